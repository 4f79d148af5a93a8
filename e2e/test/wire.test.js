// Persisted documents as other clients put them on the wire, sent with
// fetch to the server in `only` mode:
//
//   - Apollo iOS: POST {operationName, variables, extensions.persistedQuery}
//     with its headers (X-APOLLO-OPERATION-NAME, apollographql-client-name…);
//   - Apollo Kotlin: queries by GET ?operationName&variables&extensions with
//     Apollo-Require-Preflight, mutations by POST;
//   - Relay: POST {doc_id, variables}, as Relay's persisted-queries guide
//     writes its network layer (operation.text is null, so no query key);
//   - GraphQL over HTTP's persisted documents appendix: documentId by POST
//     and GET;
//
// and what `only` mode refuses: text not in the list, APQ registration of a
// new text, unknown ids, introspection, mutations over GET.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';

import { api, pq, uniqueTag } from './env.js';
import { apolloOps, codegenOps, codegenPlainOps, relayOps } from './manifests.js';

const graphqlResponse = 'application/graphql-response+json';
const json = 'application/json';

/**
 * call sends one request to the `only` server as alice (or token) and
 * returns its status, headers, media type and parsed body.
 */
async function call({ method = 'POST', params = {}, body, headers = {}, token = api.alice }) {
  const url = new URL(pq.url);
  for (const [k, v] of Object.entries(params)) {
    url.searchParams.set(k, typeof v === 'string' ? v : JSON.stringify(v));
  }
  const res = await fetch(url, {
    method,
    headers: { authorization: `Bearer ${token}`, ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = text;
  }
  return {
    status: res.status,
    headers: res.headers,
    type: (res.headers.get('content-type') ?? '').split(';')[0].trim(),
    body: parsed,
    codes: (parsed?.errors ?? []).map((e) => e.extensions?.code),
  };
}

/** ok returns the data of a successful answer, failing with the whole answer otherwise. */
function ok(res) {
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.equal(res.body.errors, undefined, JSON.stringify(res.body));
  return res.body.data;
}

/**
 * assertRequestError checks a refused request: the code, and the status the
 * media type calls for (GraphQL over HTTP): 400 without a data key in
 * application/graphql-response+json, 200 in application/json.
 */
function assertRequestError(res, code, what) {
  const at = `${what}: ${res.status} ${res.type} ${JSON.stringify(res.body)}`;
  assert.deepEqual(res.codes, [code], at);
  if (res.type === graphqlResponse) {
    assert.equal(res.status, 400, at);
    assert.ok(!('data' in res.body), `${at}: no data key`);
  } else {
    assert.equal(res.type, json, at);
    assert.equal(res.status, 200, at);
  }
}

const sha256 = (text) => createHash('sha256').update(text).digest('hex');

describe('mobile and Relay clients, `only` mode', () => {
  const tag = uniqueTag('pq-wire');

  test('Apollo iOS: POST with extensions.persistedQuery and its headers', async () => {
    const ios = (name, variables) => call({
      body: { operationName: name, variables, extensions: { persistedQuery: { version: 1, sha256Hash: apolloOps[name].id } } },
      headers: {
        'content-type': 'application/json',
        accept: 'multipart/mixed;deferSpec=20220824,application/json',
        'x-apollo-operation-name': name,
        'x-apollo-operation-type': apolloOps[name].type,
        'apollographql-client-name': 'com.example.tasks-apollo-ios',
        'apollographql-client-version': '1.0-1',
      },
    });
    const prefix = `${tag} ios`;
    const created = ok(await ios('CreateTask', { input: { title: `${prefix} one` } })).createTask;
    assert.equal(created.__typename, 'Task', 'the manifest body (with __typename) ran');
    const list = ok(await ios('ListTasks', { first: 10, prefix })).tasks;
    assert.deepEqual(list.edges.map((e) => e.node.id), [created.id]);

    // iOS does not accept application/graphql-response+json: a refusal
    // stays a 200 in application/json, with the message Apollo clients read.
    const unknown = await call({
      body: { operationName: 'Nope', variables: {}, extensions: { persistedQuery: { version: 1, sha256Hash: sha256('nope') } } },
      headers: { 'content-type': 'application/json', accept: 'multipart/mixed;deferSpec=20220824,application/json' },
    });
    assert.deepEqual([unknown.status, unknown.type, unknown.codes], [200, json, ['PERSISTED_QUERY_NOT_FOUND']]);
    assert.equal(unknown.body.errors[0].message, 'PersistedQueryNotFound');
  });

  test('Apollo Kotlin: queries by GET with Apollo-Require-Preflight, mutations by POST', async () => {
    const accept = 'multipart/mixed;deferSpec=20220824, application/graphql-response+json, application/json';
    const headers = (name) => ({
      accept,
      'x-apollo-operation-id': apolloOps[name].id,
      'x-apollo-operation-name': name,
    });
    const extensions = (name) => ({ persistedQuery: { version: 1, sha256Hash: apolloOps[name].id } });
    const prefix = `${tag} kotlin`;
    const created = ok(await call({
      body: { operationName: 'CreateTask', variables: { input: { title: `${prefix} one` } }, extensions: extensions('CreateTask') },
      headers: { ...headers('CreateTask'), 'content-type': 'application/json' },
    })).createTask;
    const got = ok(await call({
      method: 'GET',
      params: { operationName: 'GetTask', variables: { id: created.id }, extensions: extensions('GetTask') },
      headers: { ...headers('GetTask'), 'apollo-require-preflight': 'true' },
    })).task;
    assert.deepEqual(got, created);

    const unknown = await call({
      method: 'GET',
      params: { operationName: 'GetTask', variables: { id: created.id }, extensions: { persistedQuery: { version: 1, sha256Hash: sha256('nope') } } },
      headers: { ...headers('GetTask'), 'apollo-require-preflight': 'true' },
    });
    assertRequestError(unknown, 'PERSISTED_QUERY_NOT_FOUND', 'unknown hash by GET');
  });

  test('Relay: POST {doc_id, variables} with the query map ids', async () => {
    // Relay's network layer, as its persisted queries guide writes it.
    const relayFetch = (operation, variables) => call({
      body: { doc_id: operation.id, variables },
      headers: { 'content-type': 'application/json' },
    });
    const operation = (name) => ({ id: relayOps[name].id, text: null, name, operationKind: name.endsWith('Mutation') ? 'mutation' : 'query' });
    const prefix = `${tag} relay`;
    const created = ok(await relayFetch(operation('TasksPageAddMutation'), { input: { title: `${prefix} one` } })).createTask;
    assert.deepEqual(Object.keys(created).sort(), ['id', 'isCompleted', 'title']);
    const page = ok(await relayFetch(operation('TasksPageQuery'), { prefix })).tasks;
    assert.deepEqual(page.edges, [{ node: created }]);

    const unknown = await relayFetch({ id: createHash('md5').update('nope').digest('hex') }, {});
    assert.deepEqual(unknown.codes, ['PERSISTED_QUERY_NOT_FOUND']);
    assert.equal(unknown.body.errors[0].message, 'PersistedQueryNotFound');
  });

  test('GraphQL over HTTP appendix: documentId by POST and GET, both id forms', async () => {
    const accept = `${graphqlResponse}, ${json};q=0.9`;
    const prefix = `${tag} appendix`;
    const created = ok(await call({
      body: { documentId: codegenOps.AddTask.id, variables: { input: { title: `${prefix} one` } } },
      headers: { 'content-type': 'application/json', accept },
    })).createTask;
    for (const [form, ops] of [['sha256:', codegenOps], ['plain', codegenPlainOps]]) {
      const byGet = await call({ method: 'GET', params: { documentId: ops.TaskById.id, variables: { id: created.id } }, headers: { accept } });
      assert.equal(byGet.type, graphqlResponse, form);
      assert.deepEqual(ok(byGet).task, created, form);
      const byPost = await call({
        body: { documentId: ops.TaskList.id, variables: { prefix } },
        headers: { 'content-type': 'application/json', accept },
      });
      assert.deepEqual(ok(byPost).tasks, { totalCount: 1, edges: [{ node: created }] }, form);
    }
    // Relay's doc_id over GET too.
    const relay = await call({ method: 'GET', params: { doc_id: relayOps.TasksPageQuery.id, variables: { prefix } }, headers: { accept } });
    assert.deepEqual(ok(relay).tasks.edges, [{ node: created }]);
  });

  test('a mutation by id over GET is 405 with Allow: POST and is not run', async () => {
    const prefix = `${tag} get-mutation`;
    const cases = {
      documentId: { documentId: codegenOps.AddTask.id, variables: { input: { title: `${prefix} a` } } },
      doc_id: { doc_id: relayOps.TasksPageAddMutation.id, variables: { input: { title: `${prefix} b` } } },
      extensions: {
        operationName: 'CreateTask',
        variables: { input: { title: `${prefix} c` } },
        extensions: { persistedQuery: { version: 1, sha256Hash: apolloOps.CreateTask.id } },
      },
    };
    for (const [name, params] of Object.entries(cases)) {
      const res = await call({ method: 'GET', params, headers: { accept: `${graphqlResponse}, ${json};q=0.9` } });
      assert.equal(res.status, 405, `${name}: ${JSON.stringify(res.body)}`);
      assert.equal(res.headers.get('allow'), 'POST', name);
    }
    const list = ok(await call({ body: { documentId: codegenOps.TaskList.id, variables: { prefix } }, headers: { 'content-type': 'application/json' } }));
    assert.deepEqual(list.tasks, { totalCount: 0, edges: [] });
  });
});

describe('`only` mode refuses what is not in the list', () => {
  const both = [[graphqlResponse, `${graphqlResponse}, ${json};q=0.9`], [json, json]];
  const post = (body, accept) => call({ body, headers: { 'content-type': 'application/json', accept } });

  test('free-form text not in the list: PERSISTED_QUERY_NOT_IN_LIST', async () => {
    for (const [want, accept] of both) {
      const res = await post({ query: '{ tasks(first: 1) { totalCount } }' }, accept);
      assert.equal(res.type, want);
      assertRequestError(res, 'PERSISTED_QUERY_NOT_IN_LIST', `accept ${accept}`);
    }
    // A known document changed by one space is not the known document.
    const res = await post({ query: `${apolloOps.ListTasks.body} `, variables: { prefix: 'x' } }, both[0][1]);
    assertRequestError(res, 'PERSISTED_QUERY_NOT_IN_LIST', 'known text plus a space');
  });

  test('APQ registration of a new text: PERSISTED_QUERY_NOT_IN_LIST, and the hash stays unknown', async () => {
    const text = `query Register_${uniqueTag('apq').replaceAll('-', '_')} { tasks(first: 1) { totalCount } }`;
    const persistedQuery = { version: 1, sha256Hash: sha256(text) };
    for (const [, accept] of both) {
      const res = await post({ query: text, extensions: { persistedQuery } }, accept);
      assertRequestError(res, 'PERSISTED_QUERY_NOT_IN_LIST', `register, accept ${accept}`);
      const again = await post({ extensions: { persistedQuery } }, accept);
      assertRequestError(again, 'PERSISTED_QUERY_NOT_FOUND', `hash after refused registration, accept ${accept}`);
      assert.equal(again.body.errors[0].message, 'PersistedQueryNotFound');
    }
  });

  test('a known document sent as text is accepted', async () => {
    const list = ok(await post({ query: apolloOps.ListTasks.body, variables: { first: 1, prefix: 'none' } }, both[0][1]));
    assert.equal(list.tasks.totalCount, 0);
    const other = ok(await post({ query: codegenOps.TaskList.body, variables: { prefix: 'none' } }, json));
    assert.deepEqual(other.tasks, { totalCount: 0, edges: [] });
    // APQ with a known text and its right hash is no registration either.
    const apq = await post({ query: apolloOps.ListTasks.body, variables: { prefix: 'none' }, extensions: { persistedQuery: { version: 1, sha256Hash: apolloOps.ListTasks.id } } }, json);
    assert.equal(ok(apq).tasks.totalCount, 0);
  });

  test('an unknown id: PERSISTED_QUERY_NOT_FOUND with the message Apollo looks for, in every form', async () => {
    const hex = sha256(`unknown ${Math.random()}`);
    const forms = {
      'extensions.persistedQuery': { extensions: { persistedQuery: { version: 1, sha256Hash: hex } } },
      'documentId sha256:': { documentId: `sha256:${hex}` },
      'documentId bare': { documentId: hex },
      doc_id: { doc_id: createHash('md5').update(hex).digest('hex') },
    };
    for (const [form, body] of Object.entries(forms)) {
      for (const [, accept] of both) {
        const res = await post(body, accept);
        assertRequestError(res, 'PERSISTED_QUERY_NOT_FOUND', `${form}, accept ${accept}`);
        assert.equal(res.body.errors[0].message, 'PersistedQueryNotFound', form);
      }
    }
  });

  test('introspection is refused (GRAPHQL_INTROSPECTION is not set to true)', async () => {
    for (const query of ['{ __schema { queryType { name } } }', 'query { __type(name: "Task") { name } }']) {
      const res = await post({ query }, both[0][1]);
      assert.equal(res.status, 400, JSON.stringify(res.body));
      assert.ok(!('data' in res.body));
      assert.equal(res.codes.length, 1, JSON.stringify(res.body));
      assert.ok(['PERSISTED_QUERY_NOT_IN_LIST', 'INTROSPECTION_DISABLED'].includes(res.codes[0]), JSON.stringify(res.body));
    }
  });

  test('both a query and a documentId: a 400 request error', async () => {
    for (const [, accept] of both) {
      const res = await post({ query: codegenOps.TaskList.body, documentId: codegenOps.TaskList.id, variables: {} }, accept);
      assert.equal(res.status, 400, `accept ${accept}: ${JSON.stringify(res.body)}`);
      assert.ok(res.body.errors?.length > 0, JSON.stringify(res.body));
      assert.ok(!('data' in res.body));
    }
  });
});
