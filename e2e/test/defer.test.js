// @defer with the clients that send it: Apollo Client 4 (with its
// Defer20220824Handler, which asks for multipart/mixed only when an
// operation defers) and urql (whose fetchExchange always accepts
// multipart/mixed). The deferred count arrives in a later part, with the
// caller's own tasks only.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { ApolloClient, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { Defer20220824Handler } from '@apollo/client/incremental';
import { Client, fetchExchange, gql as ugql } from '@urql/core';

import { api, uniqueTag } from './env.js';

const PageWithCount = `
  query PageWithCount($where: TaskWhereInput) {
    tasks(first: 2, where: $where) {
      edges { node { id title } }
      ... @defer(label: "count") { count { value exact } }
    }
  }
`;

/**
 * fetch that notes each answer's Content-Type. With whole, it reads the body
 * to its end before handing it on: urql stops reading at hasNext false and
 * then aborts its request, which Node's fetch reports as an unhandled
 * AbortError when the body's last bytes were not yet read (a client-side
 * race, whatever the server sends after the last part).
 */
function recording({ whole = false } = {}) {
  const answers = [];
  const fetchFn = async (uri, init) => {
    let res = await fetch(uri, init);
    answers.push({ accept: new Headers(init.headers).get('accept'), contentType: res.headers.get('content-type') });
    if (whole) {
      res = new Response(await res.arrayBuffer(), { status: res.status, headers: res.headers });
    }
    return res;
  };
  return { answers, fetchFn };
}

async function createTasks(token, tag, n) {
  for (let i = 0; i < n; i++) {
    const res = await fetch(api.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({
        query: 'mutation($input: CreateTaskInput!) { createTask(input: $input) { id } }',
        variables: { input: { title: `${tag} ${i}` } },
      }),
    });
    assert.equal(res.status, 200, await res.text());
  }
}

describe('@defer over HTTP', () => {
  test('Apollo Client gets the page first and the deferred count after, as multipart/mixed', async () => {
    const tag = uniqueTag('defer-apollo');
    await createTasks(api.alice, tag, 3);
    await createTasks(api.bob, tag, 1); // same titles, another owner
    const { answers, fetchFn } = recording();
    const client = new ApolloClient({
      link: new HttpLink({ uri: api.url, headers: { authorization: `Bearer ${api.alice}` }, fetch: fetchFn }),
      cache: new InMemoryCache(),
      incrementalHandler: new Defer20220824Handler(),
    });
    const results = [];
    await new Promise((resolve, reject) => {
      const sub = client
        .watchQuery({ query: gql(PageWithCount), variables: { where: { titleContains: tag } }, fetchPolicy: 'network-only' })
        .subscribe({
          next: (r) => {
            results.push(r);
            if (r.error) {
              sub.unsubscribe();
              reject(r.error);
            } else if (!r.loading) {
              sub.unsubscribe();
              resolve();
            }
          },
          error: reject,
        });
    });
    const last = results.at(-1);
    assert.deepEqual(last.data.tasks.edges.map((e) => e.node.title), [`${tag} 2`, `${tag} 1`]);
    assert.deepEqual({ ...last.data.tasks.count }, { __typename: 'TaskCount', value: 3, exact: true });
    // Any result before the last is the page alone, still loading
    // (networkStatus 9, streaming), its count null until the count's part
    // arrives. (Whether Apollo emits one depends on how the parts are read:
    // together, they are merged before it emits.)
    for (const r of results.filter((r) => r.data?.tasks).slice(0, -1)) {
      assert.ok(r.loading && r.networkStatus === 9 && r.data.tasks.edges.length === 2 && r.data.tasks.count == null, JSON.stringify(r));
    }
    assert.equal(last.networkStatus, 7);
    assert.equal(answers.length, 1);
    assert.match(answers[0].accept, /^multipart\/mixed;deferSpec=20220824/);
    assert.match(answers[0].contentType, /^multipart\/mixed; boundary="graphql"; deferSpec=20220824/);
  });

  test('urql merges the deferred part, and each user counts their own', async () => {
    const tag = uniqueTag('defer-urql');
    await createTasks(api.alice, tag, 2);
    await createTasks(api.bob, tag, 1);
    for (const [token, titles, count] of [
      [api.alice, [`${tag} 1`, `${tag} 0`], 2],
      [api.bob, [`${tag} 0`], 1],
    ]) {
      const { answers, fetchFn } = recording({ whole: true });
      const client = new Client({
        url: api.url,
        exchanges: [fetchExchange],
        requestPolicy: 'network-only',
        preferGetMethod: false,
        fetchOptions: { headers: { authorization: `Bearer ${token}` } },
        fetch: fetchFn,
      });
      const res = await client.query(ugql(PageWithCount), { where: { titleContains: tag } }).toPromise();
      assert.equal(res.error, undefined, res.error?.message);
      assert.deepEqual(res.data.tasks.edges.map((e) => e.node.title), titles);
      assert.equal(res.data.tasks.count.value, count);
      assert.match(answers[0].contentType, /^multipart\/mixed/);
    }
  });

  test('a client that does not accept parts is told to, and nothing runs', async () => {
    const tag = uniqueTag('defer-refused');
    const res = await fetch(api.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${api.alice}` },
      body: JSON.stringify({
        query: `mutation { createTask(input: {title: "${tag}"}) { id ... @defer { title } } }`,
      }),
    });
    assert.equal(res.status, 406);
    const body = await res.json();
    assert.equal(body.errors[0].extensions.code, 'TRANSPORT_NOT_SUPPORTED');
    assert.equal(body.data, undefined);
    const check = await fetch(api.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${api.alice}` },
      body: JSON.stringify({ query: 'query($w: TaskWhereInput) { tasks(where: $w) { totalCount } }', variables: { w: { titleContains: tag } } }),
    });
    assert.equal((await check.json()).data.tasks.totalCount, 0);
  });
});
