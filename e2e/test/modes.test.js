// The other two PERSISTED_DOCUMENTS_MODEs, on servers this file starts with
// the generated manifests: `allow` (the default: known ids, APQ and any text)
// and `off` (ids refused with PERSISTED_QUERY_NOT_SUPPORTED, which Apollo's
// link reads as "send the text from now on"); and `only` with
// GRAPHQL_INTROSPECTION=true, which lets introspection through the list.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import path from 'node:path';

import { ApolloClient, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';

import { api, pq, scratch, uniqueTag } from './env.js';
import { apolloOps, codegenOps, relayOps } from './manifests.js';
import { recorder } from './record.js';
import { startServer } from './spawn.js';

const sha256 = (text) => createHash('sha256').update(text).digest('hex');

/** POST body to url as alice asking for application/json; the codes and data. */
async function post(url, body) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${api.alice}` },
    body: JSON.stringify(body),
  });
  const answer = await res.json();
  return { status: res.status, data: answer.data, codes: (answer.errors ?? []).map((e) => e.extensions?.code), answer };
}

function server(mode, env = {}) {
  return startServer(`pq_${mode}`, {
    BETTER_AUTH_SECRET: api.secret,
    DATABASE_URL: `sqlite:${path.join(scratch, `pq_${mode}.db`)}`,
    LOG_LEVEL: 'info',
    PERSISTED_DOCUMENTS_MODE: mode,
    ...env,
  });
}

const listVars = { first: 1, prefix: 'none' };

describe('`allow` mode: known ids, APQ and free-form text', () => {
  let srv;
  before(async () => {
    srv = await server('allow', { PERSISTED_DOCUMENTS: pq.dir });
  });
  after(() => srv?.stop());

  test('known ids work in every form', async () => {
    for (const [form, body] of Object.entries({
      'extensions.persistedQuery': { variables: listVars, extensions: { persistedQuery: { version: 1, sha256Hash: apolloOps.ListTasks.id } } },
      documentId: { documentId: codegenOps.TaskList.id, variables: { prefix: 'none' } },
      doc_id: { doc_id: relayOps.TasksPageQuery.id, variables: { prefix: 'none' } },
    })) {
      const res = await post(srv.query, body);
      assert.deepEqual([res.status, res.codes], [200, []], `${form}: ${JSON.stringify(res.answer)}`);
    }
  });

  test('free-form text and APQ registration are accepted; unknown ids are not found', async () => {
    const text = `query Free_${uniqueTag('allow').replaceAll('-', '_')} { tasks(first: 1) { totalCount } }`;
    assert.deepEqual((await post(srv.query, { query: text })).codes, []);
    const persistedQuery = { version: 1, sha256Hash: sha256(text) };
    assert.deepEqual((await post(srv.query, { extensions: { persistedQuery } })).codes, ['PERSISTED_QUERY_NOT_FOUND']);
    assert.deepEqual((await post(srv.query, { query: text, extensions: { persistedQuery } })).codes, []);
    assert.deepEqual((await post(srv.query, { extensions: { persistedQuery } })).codes, [], 'registered');
    assert.deepEqual((await post(srv.query, { documentId: `sha256:${sha256('nope')}` })).codes, ['PERSISTED_QUERY_NOT_FOUND']);
  });
});

describe('`off` mode: ids are not supported', () => {
  let srv;
  before(async () => {
    // No PERSISTED_DOCUMENTS: with it, `off` is a configuration error (the
    // server refuses to start, saying so).
    srv = await server('off');
  });
  after(() => srv?.stop());

  test('any id is PERSISTED_QUERY_NOT_SUPPORTED, text works', async () => {
    for (const [form, body] of Object.entries({
      'extensions.persistedQuery': { variables: listVars, extensions: { persistedQuery: { version: 1, sha256Hash: apolloOps.ListTasks.id } } },
      documentId: { documentId: codegenOps.TaskList.id, variables: { prefix: 'none' } },
      doc_id: { doc_id: relayOps.TasksPageQuery.id, variables: { prefix: 'none' } },
    })) {
      const res = await post(srv.query, body);
      assert.deepEqual(res.codes, ['PERSISTED_QUERY_NOT_SUPPORTED'], `${form}: ${JSON.stringify(res.answer)}`);
    }
    const text = await post(srv.query, { query: apolloOps.ListTasks.body, variables: listVars });
    assert.deepEqual([text.status, text.codes], [200, []]);
  });

  test("Apollo's APQ link falls back to text once, then stops hashing", async () => {
    const { fetch, requests } = recorder();
    const client = new ApolloClient({
      link: new PersistedQueryLink({ sha256, useGETForHashedQueries: true })
        .concat(new HttpLink({ uri: srv.query, headers: { authorization: `Bearer ${api.alice}` }, fetch })),
      cache: new InMemoryCache(),
      defaultOptions: { query: { fetchPolicy: 'no-cache' } },
    });
    const Count = gql`query OffCount { tasks(first: 1) { totalCount } }`;
    assert.equal(typeof (await client.query({ query: Count })).data.tasks.totalCount, 'number');
    await client.query({ query: Count });
    assert.deepEqual(
      requests.map((r) => [r.method, 'query' in r.sent, Boolean(r.sent.extensions?.persistedQuery), r.codes]),
      [
        ['GET', false, true, ['PERSISTED_QUERY_NOT_SUPPORTED']],
        ['POST', true, false, []],
        ['POST', true, false, []],
      ],
    );
  });
});

describe('`only` mode with GRAPHQL_INTROSPECTION=true', () => {
  let srv;
  before(async () => {
    srv = await server('only_introspection', { PERSISTED_DOCUMENTS: pq.dir, PERSISTED_DOCUMENTS_MODE: 'only', GRAPHQL_INTROSPECTION: 'true' });
  });
  after(() => srv?.stop());

  test('introspection is answered; other text is still refused', async () => {
    const schema = await post(srv.query, { query: '{ __schema { queryType { name } } }' });
    assert.deepEqual([schema.status, schema.codes, schema.data], [200, [], { __schema: { queryType: { name: 'Query' } } }]);
    const type = await post(srv.query, { query: '{ __type(name: "Task") { name } }' });
    assert.deepEqual(type.data, { __type: { name: 'Task' } });
    assert.deepEqual((await post(srv.query, { query: '{ tasks(first: 1) { totalCount } }' })).codes, ['PERSISTED_QUERY_NOT_IN_LIST']);
  });
});
