// The operations of the Apollo Client app that runs in `only` mode
// (test/persisted.test.js). e2e/run hands this file to Apollo's
// generate-persisted-query-manifest (persisted-query-manifest.config.js),
// which applies Apollo Client's own transforms (__typename) and writes the
// manifest the server loads; the test imports the same documents.
import { gql } from '@apollo/client';

export const TaskFields = gql`
  fragment TaskFields on Task {
    id
    title
    description
    isCompleted
    createdAt
    updatedAt
  }
`;

export const CreateTask = gql`
  mutation CreateTask($input: CreateTaskInput!) {
    createTask(input: $input) { ...TaskFields }
  }
  ${TaskFields}
`;

export const UpdateTask = gql`
  mutation UpdateTask($id: ID!, $input: UpdateTaskInput!) {
    updateTask(id: $id, input: $input) { ...TaskFields }
  }
  ${TaskFields}
`;

export const DeleteTask = gql`
  mutation DeleteTask($id: ID!) {
    deleteTask(id: $id)
  }
`;

export const GetTask = gql`
  query GetTask($id: ID!) {
    task(id: $id) { ...TaskFields }
  }
  ${TaskFields}
`;

export const ListTasks = gql`
  query ListTasks($first: Int, $after: Cursor, $prefix: String!) {
    tasks(first: $first, after: $after, where: { titleHasPrefix: $prefix }, orderBy: { field: TITLE }) {
      totalCount
      edges { cursor node { id title isCompleted } }
      pageInfo { hasNextPage endCursor }
    }
  }
`;
