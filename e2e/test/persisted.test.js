// Persisted documents with real client libraries, against the server in
// `only` mode (a safelist of the manifests e2e/run generated):
//
//   - Apollo Client 4 with @apollo/persisted-query-lists: ids from the
//     manifest Apollo's generator wrote from operations/apollo.js, sent as
//     extensions.persistedQuery.sha256Hash, queries over GET;
//   - urql 6 with GraphQL Code Generator's persisted-documents.json, both id
//     forms (`sha256:<hex>` and plain hex): through urql's own documentId
//     support, and through @urql/exchange-persisted.
//
// Every request is recorded at the fetch: none may carry a document.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { ApolloClient, ApolloLink, CombinedGraphQLErrors, HttpLink, InMemoryCache } from '@apollo/client';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';
import {
  createPersistedQueryManifestVerificationLink,
  generatePersistedQueryIdsFromManifest,
} from '@apollo/persisted-query-lists';
import { Client, fetchExchange, gql } from '@urql/core';
import { persistedExchange } from '@urql/exchange-persisted';

import { CreateTask, DeleteTask, GetTask, ListTasks, UpdateTask } from '../operations/apollo.js';
import { api, pq, uniqueTag } from './env.js';
import { apolloManifest, apolloOps, codegenOps, codegenPlainOps } from './manifests.js';
import { recorder, sentKeys } from './record.js';

/**
 * apollo returns an Apollo Client for token on the `only` server, the
 * requests it sent, and the operations Apollo's verification link found
 * differing from the manifest (there must be none: the manifest is what
 * this client sends).
 */
function apollo(token) {
  const { fetch, requests } = recorder();
  const mismatches = [];
  const loadManifest = () => apolloManifest;
  const link = ApolloLink.from([
    createPersistedQueryManifestVerificationLink({ loadManifest, onVerificationFailed: (f) => mismatches.push(f) }),
    new PersistedQueryLink({ ...generatePersistedQueryIdsFromManifest({ loadManifest }), useGETForHashedQueries: true }),
    new HttpLink({ uri: pq.url, headers: { authorization: `Bearer ${token}` }, fetch }),
  ]);
  const noCache = { fetchPolicy: 'no-cache' };
  const client = new ApolloClient({
    link,
    cache: new InMemoryCache(),
    defaultOptions: { query: noCache, watchQuery: noCache, mutate: noCache },
  });
  return { client, requests, mismatches };
}

/** Asserts that every request Apollo sent named its operation by the manifest's id alone. */
function assertApolloSentIdsOnly({ requests, mismatches }) {
  assert.deepEqual(mismatches.map((m) => `${m.reason} ${m.operation.operationName}`), []);
  assert.ok(requests.length > 0);
  for (const r of requests) {
    const { operationName, extensions } = r.sent;
    const op = apolloOps[operationName];
    assert.ok(op, `an operation of the manifest: ${JSON.stringify(r.sent)}`);
    assert.ok(!('query' in r.sent), `${operationName}: no query sent`);
    assert.equal(extensions?.persistedQuery?.sha256Hash, op.id, operationName);
    assert.equal(r.method, op.type === 'query' ? 'GET' : 'POST', operationName);
    assert.equal(r.status, 200, `${operationName}: ${r.status} ${r.codes}`);
  }
}

/** The codes of a CombinedGraphQLErrors. */
function apolloCodes(err) {
  assert.ok(CombinedGraphQLErrors.is(err), `a CombinedGraphQLErrors, got ${err?.name}: ${err?.message}`);
  return err.errors.map((e) => e.extensions?.code);
}

describe('Apollo Client 4 with a persisted query list, `only` mode', () => {
  const tag = uniqueTag('pq-apollo');

  test('create, list page by page, update and delete with ids alone', async () => {
    const alice = apollo(api.alice);
    const prefix = `${tag} crud`;
    const titles = ['c', 'a', 'b'].map((s) => `${prefix} ${s}`);
    const created = [];
    for (const title of titles) {
      const { data } = await alice.client.mutate({ mutation: CreateTask, variables: { input: { title } } });
      assert.equal(data.createTask.title, title);
      created.push(data.createTask);
    }

    const seen = [];
    let after = null;
    for (;;) {
      const { data } = await alice.client.query({ query: ListTasks, variables: { first: 2, after, prefix } });
      assert.equal(data.tasks.totalCount, 3);
      seen.push(...data.tasks.edges.map((e) => e.node.title));
      if (!data.tasks.pageInfo.hasNextPage) break;
      after = data.tasks.pageInfo.endCursor;
    }
    assert.deepEqual(seen, [...titles].sort());

    const task = created[0];
    const { data: updated } = await alice.client.mutate({
      mutation: UpdateTask,
      variables: { id: task.id, input: { title: `${prefix} c done`, isCompleted: true } },
    });
    assert.deepEqual(
      { id: updated.updateTask.id, title: updated.updateTask.title, isCompleted: updated.updateTask.isCompleted },
      { id: task.id, title: `${prefix} c done`, isCompleted: true },
    );
    const { data: read } = await alice.client.query({ query: GetTask, variables: { id: task.id } });
    assert.deepEqual(read.task, updated.updateTask);

    const { data: deleted } = await alice.client.mutate({ mutation: DeleteTask, variables: { id: task.id } });
    assert.equal(deleted.deleteTask, task.id);
    await assert.rejects(alice.client.query({ query: GetTask, variables: { id: task.id } }), (err) => {
      assert.deepEqual(apolloCodes(err), ['NOT_FOUND']);
      return true;
    });
    const { data: left } = await alice.client.query({ query: ListTasks, variables: { first: 10, prefix } });
    assert.equal(left.tasks.totalCount, 2);

    // The NOT_FOUND above is a field error (a 200 like the rest), not a
    // refused id.
    assert.deepEqual(alice.requests.at(-2).codes, ['NOT_FOUND']);
    assertApolloSentIdsOnly(alice);
  });

  test("alice never sees bob's tasks", async () => {
    const alice = apollo(api.alice);
    const bob = apollo(api.bob);
    const prefix = `${tag} isolation`;
    const { data } = await bob.client.mutate({ mutation: CreateTask, variables: { input: { title: `${prefix} bob's` } } });
    const id = data.createTask.id;

    const { data: list } = await alice.client.query({ query: ListTasks, variables: { first: 10, prefix } });
    assert.deepEqual(list.tasks.edges, []);
    assert.equal(list.tasks.totalCount, 0);
    const attempts = {
      task: () => alice.client.query({ query: GetTask, variables: { id } }),
      updateTask: () => alice.client.mutate({ mutation: UpdateTask, variables: { id, input: { title: 'mine now' } } }),
      deleteTask: () => alice.client.mutate({ mutation: DeleteTask, variables: { id } }),
    };
    for (const [field, attempt] of Object.entries(attempts)) {
      await assert.rejects(attempt(), (err) => {
        assert.deepEqual(apolloCodes(err), ['NOT_FOUND'], field);
        assert.deepEqual(err.errors[0].path, [field]);
        return true;
      });
    }

    const { data: still } = await bob.client.query({ query: GetTask, variables: { id } });
    assert.equal(still.task.title, `${prefix} bob's`);
    const { data: bobs } = await bob.client.query({ query: ListTasks, variables: { first: 10, prefix } });
    assert.deepEqual(bobs.tasks.edges.map((e) => e.node.id), [id]);

    // Every request named its document by id, the refused ones included.
    for (const client of [alice, bob]) {
      assert.deepEqual(client.mismatches, []);
      for (const r of client.requests) {
        assert.ok(!('query' in r.sent), JSON.stringify(r.sent));
        assert.equal(r.sent.extensions.persistedQuery.sha256Hash, apolloOps[r.sent.operationName].id);
      }
    }
  });
});

/**
 * A document urql sends by id alone: no definitions and a documentId, which
 * urql's fetch puts in the request as `documentId` (GraphQL over HTTP's
 * persisted documents appendix) instead of a query.
 */
function byId(op) {
  return { kind: 'Document', definitions: [], documentId: op.id };
}

/** urql on the `only` server with token, recording its requests. */
function urql(token, exchanges = [fetchExchange]) {
  const { fetch, requests } = recorder();
  const client = new Client({
    url: pq.url,
    exchanges,
    requestPolicy: 'network-only',
    fetchOptions: { headers: { authorization: `Bearer ${token}` } },
    fetch,
  });
  return { client, requests };
}

/** ok returns the data of an urql result, failing the test on any error. */
function ok(result) {
  assert.equal(result.error, undefined, result.error?.message);
  return result.data;
}

/** The codes of the GraphQL errors in an urql result. */
function urqlCodes(result) {
  assert.ok(result.error, 'an error');
  assert.equal(result.error.networkError, undefined, result.error.message);
  return result.error.graphQLErrors.map((e) => e.extensions?.code);
}

/**
 * crud runs the urql app's operations through send (a function of the
 * codegen operation name and variables, query or mutation) and checks the
 * answers: create, get, list, complete, isolation from bob, delete.
 */
async function crud(send, sendAsBob, prefix) {
  const created = ok(await send('AddTask', { input: { title: `${prefix} one` } })).createTask;
  assert.deepEqual({ title: created.title, isCompleted: created.isCompleted }, { title: `${prefix} one`, isCompleted: false });
  assert.deepEqual(ok(await send('TaskById', { id: created.id })).task, created);
  const done = ok(await send('CompleteTask', { id: created.id })).updateTask;
  assert.deepEqual(done, { ...created, isCompleted: true });
  const list = ok(await send('TaskList', { prefix })).tasks;
  assert.deepEqual(list, { totalCount: 1, edges: [{ node: done }] });

  assert.deepEqual(ok(await sendAsBob('TaskList', { prefix })).tasks, { totalCount: 0, edges: [] });
  assert.deepEqual(urqlCodes(await sendAsBob('TaskById', { id: created.id })), ['NOT_FOUND']);
  assert.deepEqual(urqlCodes(await sendAsBob('RemoveTask', { id: created.id })), ['NOT_FOUND']);

  assert.equal(ok(await send('RemoveTask', { id: created.id })).deleteTask, created.id);
  assert.deepEqual(urqlCodes(await send('TaskById', { id: created.id })), ['NOT_FOUND']);
}

const mutations = new Set(['AddTask', 'CompleteTask', 'RemoveTask']);

describe('urql 6 with GraphQL Code Generator persisted documents, `only` mode', () => {
  const tag = uniqueTag('pq-urql');

  // urql sends a documentId only for a document without definitions, but in
  // development (NODE_ENV not production) its Client refuses such a document
  // before sending it ("Expected operation of type "query" but found
  // "undefined"", Client.createRequestOperation). An app's production build
  // skips that check, so the tests run as one.
  const nodeEnv = process.env.NODE_ENV;
  before(() => {
    process.env.NODE_ENV = 'production';
  });
  after(() => {
    if (nodeEnv === undefined) delete process.env.NODE_ENV;
    else process.env.NODE_ENV = nodeEnv;
  });

  for (const [form, ops] of [['sha256:<hex> ids (codegen 6)', codegenOps], ['plain hex ids (codegen 5)', codegenPlainOps]]) {
    test(`documentId with ${form}`, async () => {
      const alice = urql(api.alice);
      const bob = urql(api.bob);
      const sender = ({ client }) => (name, variables) => (mutations.has(name)
        ? client.mutation(byId(ops[name]), variables)
        : client.query(byId(ops[name]), variables)
      ).toPromise();
      await crud(sender(alice), sender(bob), `${tag} ${form}`);

      // What urql sent: queries by GET, mutations by POST, each with
      // documentId (and variables), never a query or an operationName
      // (urql takes that from the definitions, which are empty here).
      for (const r of [...alice.requests, ...bob.requests]) {
        const name = Object.keys(ops).find((n) => ops[n].id === r.sent.documentId);
        assert.ok(name, `a known documentId: ${JSON.stringify(r.sent)}`);
        assert.equal(r.method, mutations.has(name) ? 'POST' : 'GET', name);
        assert.deepEqual(sentKeys(r), ['documentId', 'variables'], name);
      }
      assert.ok(alice.requests.every((r) => r.accept.startsWith('application/graphql-response+json')));
    });
  }

  // The README's recipe: the exchange sends whatever generateHash returns as
  // extensions.persistedQuery.sha256Hash, so with codegen 6's default ids
  // that is `sha256:<hex>`, with codegen 5's plain hex.
  for (const [form, ops] of [['sha256:<hex> ids (codegen 6)', codegenOps], ['plain hex ids (codegen 5)', codegenPlainOps]]) {
    test(`persistedExchange with ${form} (extensions.persistedQuery)`, async () => {
      // The codegen documents themselves, so urql knows each operation's
      // name; the exchange asks generateHash for the id and sends no text.
      const exchange = () => persistedExchange({
        enforcePersistedQueries: true,
        enableForMutation: true,
        generateHash: async (_text, document) => ops[document.definitions[0].name.value].id,
      });
      const alice = urql(api.alice, [exchange(), fetchExchange]);
      const bob = urql(api.bob, [exchange(), fetchExchange]);
      const docs = Object.fromEntries(Object.entries(ops).map(([name, op]) => [name, gql(op.body)]));
      const sender = ({ client }) => (name, variables) => (mutations.has(name)
        ? client.mutation(docs[name], variables)
        : client.query(docs[name], variables)
      ).toPromise();
      await crud(sender(alice), sender(bob), `${tag} exchange ${form}`);

      for (const r of [...alice.requests, ...bob.requests]) {
        const name = r.sent.operationName;
        assert.ok(ops[name], JSON.stringify(r.sent));
        assert.equal(r.method, mutations.has(name) ? 'POST' : 'GET', name);
        assert.deepEqual(sentKeys(r), ['extensions', 'operationName', 'variables'], name);
        assert.deepEqual(r.sent.extensions, { persistedQuery: { version: 1, sha256Hash: ops[name].id } });
      }
    });
  }

  test('a refused id reaches urql as a coded GraphQL error, 400 in application/graphql-response+json', async () => {
    const { client, requests } = urql(api.alice);
    const unknown = { id: `sha256:${'0'.repeat(64)}` };
    const result = await client.query(byId(unknown), {}).toPromise();
    assert.deepEqual(urqlCodes(result), ['PERSISTED_QUERY_NOT_FOUND']);
    assert.equal(result.error.graphQLErrors[0].message, 'PersistedQueryNotFound');
    assert.equal(result.data, undefined);
    assert.equal(result.error.response.status, 400);
    assert.match(requests[0].contentType, /^application\/graphql-response\+json/);
    assert.equal(requests[0].hasData, false);
  });
});
