// Apollo Client 4 against the server: HttpLink behind the automatic
// persisted queries link, hashed queries sent with GET. Apollo Client 4 asks
// for application/graphql-response+json first, so request errors (such as
// an APQ miss) come back as 400 in that media type: the link must still read
// their codes and retry.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';

import { ApolloClient, CombinedGraphQLErrors, HttpLink, InMemoryCache, ServerError, gql } from '@apollo/client';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';

import { api, expiredToken, uniqueTag } from './env.js';

/**
 * apollo returns a client whose every HTTP exchange is recorded in
 * requests: method, the Accept header, whether the query text was sent, the
 * hash, the status, the media type and the error codes of the answer.
 */
function apollo(token) {
  const requests = [];
  async function recordingFetch(uri, init) {
    const res = await fetch(uri, init);
    const url = new URL(uri);
    const sent = init.method === 'GET'
      ? { query: url.searchParams.get('query'), extensions: JSON.parse(url.searchParams.get('extensions') ?? 'null') }
      : JSON.parse(init.body);
    let answer = {};
    try {
      answer = JSON.parse(await res.clone().text());
    } catch {
      // not JSON: the assertions on codes will say so
    }
    requests.push({
      method: init.method,
      accept: new Headers(init.headers).get('accept'),
      contentType: res.headers.get('content-type'),
      hasData: 'data' in answer,
      operationName: url.searchParams.get('operationName') ?? sent.operationName,
      withQuery: Boolean(sent.query),
      hash: sent.extensions?.persistedQuery?.sha256Hash,
      status: res.status,
      codes: (answer.errors ?? []).map((e) => e.extensions?.code),
    });
    return res;
  }
  const headers = token === undefined ? {} : { authorization: `Bearer ${token}` };
  // createPersistedQueryLink is deprecated in Apollo Client 4 in favour of
  // the class; both build the same link.
  const link = new PersistedQueryLink({
    sha256: (query) => createHash('sha256').update(query).digest('hex'),
    useGETForHashedQueries: true,
  }).concat(new HttpLink({ uri: api.url, headers, fetch: recordingFetch }));
  const noCache = { fetchPolicy: 'no-cache' };
  const client = new ApolloClient({
    link,
    cache: new InMemoryCache(),
    defaultOptions: { query: noCache, watchQuery: noCache, mutate: noCache },
  });
  return { client, requests };
}

const TaskFields = gql`
  fragment TaskFields on Task {
    id
    title
    description
    isCompleted
    createdAt
    updatedAt
  }
`;

const CreateTask = gql`
  mutation CreateTask($input: CreateTaskInput!) {
    createTask(input: $input) { ...TaskFields }
  }
  ${TaskFields}
`;

const UpdateTask = gql`
  mutation UpdateTask($id: ID!, $input: UpdateTaskInput!) {
    updateTask(id: $id, input: $input) { ...TaskFields }
  }
  ${TaskFields}
`;

const DeleteTask = gql`
  mutation DeleteTask($id: ID!) {
    deleteTask(id: $id)
  }
`;

const GetTask = gql`
  query GetTask($id: ID!) {
    task(id: $id) { ...TaskFields }
  }
  ${TaskFields}
`;

const ListTasks = gql`
  query ListTasks($first: Int, $after: Cursor, $prefix: String!) {
    tasks(first: $first, after: $after, where: { titleHasPrefix: $prefix }, orderBy: { field: TITLE }) {
      totalCount
      edges { cursor node { id title } }
      pageInfo { hasNextPage endCursor }
    }
  }
`;

/** The codes of a CombinedGraphQLErrors (Apollo Client 4's error for GraphQL errors). */
function codes(err) {
  assert.ok(CombinedGraphQLErrors.is(err), `a CombinedGraphQLErrors, got ${err?.name}: ${err?.message}`);
  return err.errors.map((e) => e.extensions?.code);
}

describe('Apollo Client', () => {
  const tag = uniqueTag('apollo');

  test('automatic persisted queries: a miss retries with the query text, a hit sends only the hash', async () => {
    // An operation no one has sent to this server yet.
    const probe = gql`query ApqProbe_${tag.replaceAll('-', '_')} { tasks(first: 1) { totalCount } }`;
    const { client, requests } = apollo(api.alice);

    const first = await client.query({ query: probe });
    assert.equal(typeof first.data.tasks.totalCount, 'number');
    assert.equal(requests.length, 2, `two requests for a miss: ${JSON.stringify(requests)}`);
    const [miss, retry] = requests;
    assert.equal(miss.accept, 'application/graphql-response+json,application/json;q=0.9');
    // A miss is a request error: 400 in the media type the client asked for
    // first, with no data key (GraphQL over HTTP); the link reads the code
    // from it all the same.
    assert.deepEqual(
      { method: miss.method, withQuery: miss.withQuery, status: miss.status, codes: miss.codes, hasData: miss.hasData },
      { method: 'GET', withQuery: false, status: 400, codes: ['PERSISTED_QUERY_NOT_FOUND'], hasData: false },
    );
    assert.match(miss.contentType, /^application\/graphql-response\+json/);
    assert.match(miss.hash, /^[0-9a-f]{64}$/);
    assert.deepEqual(
      { method: retry.method, withQuery: retry.withQuery, hash: retry.hash, status: retry.status, codes: retry.codes },
      { method: 'POST', withQuery: true, hash: miss.hash, status: 200, codes: [] },
    );

    await client.query({ query: probe });
    assert.equal(requests.length, 3, 'one request for a hit');
    assert.deepEqual(
      { method: requests[2].method, withQuery: requests[2].withQuery, hash: requests[2].hash, status: requests[2].status, codes: requests[2].codes },
      { method: 'GET', withQuery: false, hash: miss.hash, status: 200, codes: [] },
    );

    // The server keeps registered queries per user: Bob cannot learn that
    // Alice sent this document, so his first hash-only request misses too.
    const other = apollo(api.bob);
    await other.client.query({ query: probe });
    assert.deepEqual(
      other.requests.map((r) => [r.method, r.withQuery, r.status, r.codes]),
      [['GET', false, 400, ['PERSISTED_QUERY_NOT_FOUND']], ['POST', true, 200, []]],
    );
    await other.client.query({ query: probe });
    assert.equal(other.requests.length, 3, 'then a hit for Bob as well');
  });

  test('mutations are persisted over POST, never GET', async () => {
    const { client, requests } = apollo(api.alice);
    await client.mutate({ mutation: CreateTask, variables: { input: { title: `${tag} apq mutation` } } });
    await client.mutate({ mutation: CreateTask, variables: { input: { title: `${tag} apq mutation 2` } } });
    assert.deepEqual(requests.map((r) => r.method), ['POST', 'POST', 'POST']);
    assert.deepEqual(requests.map((r) => r.withQuery), [false, true, false]);
    assert.deepEqual(requests[0].codes, ['PERSISTED_QUERY_NOT_FOUND']);
    assert.deepEqual(requests.map((r) => r.status), [400, 200, 200]);
  });

  test('create, list page by page, update and delete tasks', async () => {
    const { client, requests } = apollo(api.alice);
    const prefix = `${tag} crud`;
    const titles = ['e', 'b', 'd', 'a', 'c'].map((s) => `${prefix} ${s}`);
    const created = [];
    for (const title of titles) {
      const { data } = await client.mutate({
        mutation: CreateTask,
        variables: { input: { title: `  ${title}  `, description: `about ${title}` } },
      });
      assert.equal(data.createTask.title, title, 'the title is trimmed');
      assert.equal(data.createTask.isCompleted, false);
      created.push(data.createTask);
    }

    const seen = [];
    const pages = [];
    let after = null;
    for (;;) {
      const { data } = await client.query({ query: ListTasks, variables: { first: 2, after, prefix } });
      const page = data.tasks;
      assert.equal(page.totalCount, 5);
      pages.push(page.edges.length);
      seen.push(...page.edges.map((e) => e.node.title));
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
    }
    assert.deepEqual(pages, [2, 2, 1]);
    assert.deepEqual(seen, [...titles].sort());
    // Three pages, four requests: the first page misses the server's APQ
    // cache once and is sent again with its text, over POST.
    const listed = requests.filter((r) => r.operationName === 'ListTasks');
    assert.deepEqual(
      listed.map((r) => `${r.method}${r.withQuery ? ' with query' : ''}`),
      ['GET', 'POST with query', 'GET', 'GET'],
    );

    const task = created[0];
    const { data: updated } = await client.mutate({
      mutation: UpdateTask,
      variables: { id: task.id, input: { title: `${prefix} e done`, isCompleted: true, clearDescription: true } },
    });
    assert.equal(updated.updateTask.id, task.id);
    assert.equal(updated.updateTask.title, `${prefix} e done`);
    assert.equal(updated.updateTask.isCompleted, true);
    assert.equal(updated.updateTask.description, null);
    assert.equal(updated.updateTask.createdAt, task.createdAt);
    assert.ok(Date.parse(updated.updateTask.updatedAt) >= Date.parse(task.updatedAt));

    const { data: read } = await client.query({ query: GetTask, variables: { id: task.id } });
    assert.deepEqual(read.task, updated.updateTask);

    const { data: deleted } = await client.mutate({ mutation: DeleteTask, variables: { id: task.id } });
    assert.equal(deleted.deleteTask, task.id);
    await assert.rejects(client.query({ query: GetTask, variables: { id: task.id } }), (err) => {
      assert.deepEqual(codes(err), ['NOT_FOUND']);
      return true;
    });
    const { data: after4 } = await client.query({ query: ListTasks, variables: { first: 10, prefix } });
    assert.equal(after4.tasks.totalCount, 4);
  });

  test("another user's task is NOT_FOUND, for reads and writes", async () => {
    const alice = apollo(api.alice).client;
    const bob = apollo(api.bob).client;
    const { data } = await alice.mutate({ mutation: CreateTask, variables: { input: { title: `${tag} private` } } });
    const id = data.createTask.id;

    const attempts = {
      task: () => bob.query({ query: GetTask, variables: { id } }),
      updateTask: () => bob.mutate({ mutation: UpdateTask, variables: { id, input: { title: 'mine now' } } }),
      deleteTask: () => bob.mutate({ mutation: DeleteTask, variables: { id } }),
    };
    for (const [field, attempt] of Object.entries(attempts)) {
      await assert.rejects(attempt(), (err) => {
        // A field error, not a request error: a 200 with data null, which
        // Apollo Client 4 reports as CombinedGraphQLErrors.
        assert.deepEqual(codes(err), ['NOT_FOUND'], field);
        assert.deepEqual(err.errors[0].path, [field]);
        assert.equal(err.data, null, field);
        return true;
      });
    }

    const { data: still } = await alice.query({ query: GetTask, variables: { id } });
    assert.equal(still.task.title, `${tag} private`);
  });

  test('a rejected token is a 401 ServerError whose body says why', async () => {
    const cases = [
      { name: 'expired', token: expiredToken('alice'), reason: 'expired' },
      { name: 'missing', token: undefined, reason: 'missing' },
      { name: 'bad signature', token: api.alice.slice(0, -4) + 'AAAA', reason: 'invalid' },
    ];
    for (const c of cases) {
      const { client, requests } = apollo(c.token);
      await assert.rejects(client.query({ query: ListTasks, variables: { prefix: tag } }), (err) => {
        // A 401 in application/json: Apollo Client 4 does not parse it as a
        // GraphQL result but hands over the body as text.
        assert.ok(ServerError.is(err), `${c.name}: a ServerError, got ${err.name}: ${err.message}`);
        assert.equal(err.statusCode, 401, c.name);
        assert.match(err.response.headers.get('www-authenticate'), /^Bearer realm="tasks"/);
        const body = JSON.parse(err.bodyText);
        assert.equal(body.errors[0].extensions.code, 'UNAUTHENTICATED', c.name);
        assert.equal(body.errors[0].extensions.reason, c.reason, c.name);
        return true;
      });
      // The APQ link does not retry an authentication failure.
      assert.equal(requests.length, 1, `${c.name}: ${JSON.stringify(requests)}`);
    }
  });
});
