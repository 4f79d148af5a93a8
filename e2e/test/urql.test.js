// urql's core client with its plain fetchExchange: queries go out as GET
// (urql's default for short URLs), mutations as POST.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { Client, fetchExchange, gql } from '@urql/core';

import { api, expiredToken, uniqueTag } from './env.js';

function urql(token) {
  const methods = [];
  return {
    methods,
    client: new Client({
      url: api.url,
      exchanges: [fetchExchange],
      requestPolicy: 'network-only',
      fetchOptions: { headers: { authorization: `Bearer ${token}` } },
      fetch: (uri, init) => {
        methods.push(init.method);
        return fetch(uri, init);
      },
    }),
  };
}

const CreateTask = gql`
  mutation CreateTask($input: CreateTaskInput!) {
    createTask(input: $input) { id title isCompleted }
  }
`;

const UpdateTask = gql`
  mutation UpdateTask($id: ID!, $input: UpdateTaskInput!) {
    updateTask(id: $id, input: $input) { id title isCompleted }
  }
`;

const GetTask = gql`
  query GetTask($id: ID!) {
    task(id: $id) { id title isCompleted }
  }
`;

const ListTasks = gql`
  query ListTasks($prefix: String) {
    tasks(first: 100, where: { titleHasPrefix: $prefix }) {
      totalCount
      edges { node { id title } }
    }
  }
`;

/** ok returns the data of an urql result, failing the test on any error. */
function ok(result) {
  assert.equal(result.error, undefined, result.error?.message);
  return result.data;
}

/** The codes of the GraphQL errors in an urql result. */
function codes(result) {
  assert.ok(result.error, 'an error');
  assert.equal(result.error.networkError, undefined, result.error.message);
  return result.error.graphQLErrors.map((e) => e.extensions?.code);
}

describe('urql', () => {
  const tag = uniqueTag('urql');

  test('a mutation and queries round trip', async () => {
    const { client, methods } = urql(api.alice);
    const created = ok(await client.mutation(CreateTask, { input: { title: `${tag} round trip` } })).createTask;
    assert.equal(created.title, `${tag} round trip`);
    assert.equal(created.isCompleted, false);

    assert.deepEqual(ok(await client.query(GetTask, { id: created.id })).task, created);

    const updated = ok(await client.mutation(UpdateTask, { id: created.id, input: { isCompleted: true } })).updateTask;
    assert.deepEqual(updated, { ...created, isCompleted: true });

    const list = ok(await client.query(ListTasks, { prefix: tag })).tasks;
    assert.equal(list.totalCount, 1);
    assert.deepEqual(list.edges.map((e) => e.node.id), [created.id]);
    assert.deepEqual(methods, ['POST', 'GET', 'POST', 'GET']);
  });

  test("bob sees none of alice's tasks", async () => {
    const alice = urql(api.alice).client;
    const bob = urql(api.bob).client;
    const mine = ok(await alice.mutation(CreateTask, { input: { title: `${tag} alice only` } })).createTask;

    const bobsList = ok(await bob.query(ListTasks, { prefix: tag })).tasks;
    assert.deepEqual(bobsList, { totalCount: 0, edges: [] });
    const everything = ok(await bob.query(ListTasks, {})).tasks;
    assert.ok(!everything.edges.some((e) => e.node.id === mine.id), "alice's task in bob's unfiltered list");

    assert.deepEqual(codes(await bob.query(GetTask, { id: mine.id })), ['NOT_FOUND']);
    assert.deepEqual(codes(await bob.mutation(UpdateTask, { id: mine.id, input: { title: 'taken' } })), ['NOT_FOUND']);

    assert.deepEqual(ok(await alice.query(GetTask, { id: mine.id })).task, mine);
  });

  test('an expired token is a GraphQL error on a 401 response', async () => {
    // urql reads the JSON body of a non-2xx answer: the 401 arrives as
    // graphQLErrors, not as a networkError as in Apollo.
    const result = await urql(expiredToken('alice')).client.query(ListTasks, { prefix: tag });
    assert.equal(result.error.response.status, 401);
    assert.equal(result.error.networkError, undefined);
    const requestId = result.error.response.headers.get('x-request-id');
    assert.ok(requestId, 'the 401 carries X-Request-Id');
    assert.deepEqual(result.error.graphQLErrors.map((e) => e.extensions), [{ code: 'UNAUTHENTICATED', reason: 'expired', requestId }]);
  });
});
