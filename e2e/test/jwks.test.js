// The server in JWKS mode (BETTER_AUTH_URL set, no BETTER_AUTH_SECRET)
// against a real Better Auth: users sign up through Better Auth's own HTTP
// API, take their JWTs from /api/auth/token, and use Apollo Client and urql
// with them. e2e/run sets E2E_JWKS=1 only when the built server has the
// mode; otherwise this file is skipped.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

import { ApolloClient, CombinedGraphQLErrors, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { Client, fetchExchange } from '@urql/core';

import { appURL, decode, signUp, token } from './betterauth.js';
import { api, uniqueTag } from './env.js';

const enabled = process.env.E2E_JWKS === '1';

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

function apollo(url, token) {
  const noCache = { fetchPolicy: 'no-cache' };
  return new ApolloClient({
    link: new HttpLink({ uri: url, headers: { authorization: `Bearer ${token}` }, fetch }),
    cache: new InMemoryCache(),
    defaultOptions: { query: noCache, watchQuery: noCache, mutate: noCache },
  });
}

function urql(url, token) {
  return new Client({
    url,
    exchanges: [fetchExchange],
    requestPolicy: 'network-only',
    fetchOptions: { headers: { authorization: `Bearer ${token}` } },
  });
}

/** ok returns the data of an urql result, failing the test on any error. */
function ok(result) {
  assert.equal(result.error, undefined, result.error?.message);
  return result.data;
}

/** The status and error codes of a plain POST of query with token. */
async function post(url, token, query = '{ tasks(first: 1) { totalCount } }') {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query }),
  });
  const body = await res.json().catch(() => ({}));
  return { status: res.status, codes: (body.errors ?? []).map((e) => e.extensions?.code) };
}

describe('JWKS mode with a real Better Auth', { skip: !enabled && 'JWKS mode not in this server build' }, () => {
  const tag = uniqueTag('jwks');
  let url; // the JWKS-mode server's /query
  let app; // its Better Auth app
  let alice;
  let bob;

  before(async () => {
    url = `${process.env.E2E_JWKS_URL}/query`;
    app = process.env.E2E_JWKS_APP_URL;
    alice = await signUp(app, 'alice');
    bob = await signUp(app, 'bob');
    alice.token = await token(app, alice);
    bob.token = await token(app, bob);
  });

  test('Apollo Client: each user sees only their own tasks', async () => {
    const a = apollo(url, alice.token);
    const b = apollo(url, bob.token);
    const mine = (await a.mutate({ mutation: CreateTask, variables: { input: { title: `${tag} apollo alice` } } })).data.createTask;
    const theirs = (await b.mutate({ mutation: CreateTask, variables: { input: { title: `${tag} apollo bob` } } })).data.createTask;

    const listed = async (client) => (await client.query({ query: ListTasks, variables: { prefix: `${tag} apollo` } }))
      .data.tasks.edges.map((e) => e.node.title);
    assert.deepEqual(await listed(a), [`${tag} apollo alice`]);
    assert.deepEqual(await listed(b), [`${tag} apollo bob`]);

    assert.equal((await a.query({ query: GetTask, variables: { id: mine.id } })).data.task.id, mine.id);
    await assert.rejects(b.query({ query: GetTask, variables: { id: mine.id } }), (err) => {
      assert.ok(CombinedGraphQLErrors.is(err), `${err.name}: ${err.message}`);
      assert.deepEqual(err.errors.map((e) => e.extensions?.code), ['NOT_FOUND']);
      return true;
    });
    await assert.rejects(a.mutate({ mutation: UpdateTask, variables: { id: theirs.id, input: { title: 'mine now' } } }), (err) => {
      assert.ok(CombinedGraphQLErrors.is(err), `${err.name}: ${err.message}`);
      assert.deepEqual(err.errors.map((e) => e.extensions?.code), ['NOT_FOUND']);
      return true;
    });
  });

  test('urql: each user sees only their own tasks', async () => {
    const a = urql(url, alice.token);
    const b = urql(url, bob.token);
    const mine = ok(await a.mutation(CreateTask, { input: { title: `${tag} urql alice` } })).createTask;
    ok(await b.mutation(CreateTask, { input: { title: `${tag} urql bob` } }));

    assert.deepEqual(
      ok(await a.query(ListTasks, { prefix: `${tag} urql` })).tasks.edges.map((e) => e.node.title),
      [`${tag} urql alice`],
    );
    assert.deepEqual(
      ok(await b.query(ListTasks, { prefix: `${tag} urql` })).tasks.edges.map((e) => e.node.title),
      [`${tag} urql bob`],
    );
    const denied = await b.mutation(UpdateTask, { id: mine.id, input: { isCompleted: true } });
    assert.equal(denied.error?.networkError, undefined);
    assert.deepEqual(denied.error?.graphQLErrors.map((e) => e.extensions?.code), ['NOT_FOUND']);
    assert.equal(ok(await a.query(GetTask, { id: mine.id })).task.isCompleted, false);
  });

  test('a token is its own user, and only a token of this Better Auth counts', async () => {
    assert.notEqual(decode(alice.token).payload.sub, decode(bob.token).payload.sub);
    assert.equal(decode(alice.token).payload.sub, alice.id);

    // Another Better Auth (its own keys; its URL as iss and aud) for the same name.
    const stranger = await signUp(appURL(), 'alice');
    const foreign = await token(appURL(), stranger);
    // The shared secret of the other e2e server verifies nothing here.
    const now = Math.floor(Date.now() / 1000);
    const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const unsigned = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub: alice.id, iss: app, aud: app, iat: now, exp: now + 600 })}`;
    const hs256 = `${unsigned}.${createHmac('sha256', api.secret).update(unsigned).digest('base64url')}`;
    const [h, p, s] = alice.token.split('.');
    const tampered = `${h}.${b64({ ...decode(alice.token).payload, sub: bob.id })}.${s}`;

    for (const [name, t] of Object.entries({ foreign, hs256, tampered, truncated: `${h}.${p}.${s.slice(0, -4)}AAAA` })) {
      assert.deepEqual(await post(url, t), { status: 401, codes: ['UNAUTHENTICATED'] }, name);
    }
    assert.deepEqual(await post(url, alice.token), { status: 200, codes: [] });
  });

  test('a key rotation does not interrupt them', { timeout: 90_000 }, async () => {
    const rotation = Number(process.env.E2E_JWKS_ROTATION ?? 20);
    const oldKid = decode(alice.token).header.kid;
    let fresh = alice.token;
    const deadline = Date.now() + (rotation + 15) * 1000;
    while (decode(fresh).header.kid === oldKid) {
      assert.ok(Date.now() < deadline, `no new kid within ${rotation + 15}s`);
      await sleep(1000);
      fresh = await token(app, alice);
    }
    // A kid the server has not seen: it fetches the set again.
    assert.deepEqual(await post(url, fresh), { status: 200, codes: [] }, 'a token signed with the new key');
    assert.deepEqual(await post(url, alice.token), { status: 200, codes: [] }, 'a token signed with the old key');
    const bobFresh = await token(app, bob);
    assert.equal(decode(bobFresh).header.kid, decode(fresh).header.kid);
    assert.deepEqual(await post(url, bobFresh), { status: 200, codes: [] });
    alice.fresh = fresh;
    bob.fresh = bobFresh;
  });

  test('the Better Auth app stopped, known keys still work', async () => {
    const pid = Number(process.env.E2E_JWKS_APP_PID);
    assert.ok(pid > 0, 'E2E_JWKS_APP_PID');
    process.kill(pid, 'SIGTERM');
    for (let i = 0; ; i++) {
      try {
        await fetch(`${app}/api/auth/ok`);
      } catch {
        break; // refused: the app is gone
      }
      assert.ok(i < 100, 'the Better Auth app is still up 10s after SIGTERM');
      await sleep(100);
    }
    for (const [name, t] of Object.entries({ alice: alice.token, bob: bob.token, aliceFresh: alice.fresh, bobFresh: bob.fresh })) {
      if (!t) continue; // the rotation test did not get that far
      assert.deepEqual(await post(url, t), { status: 200, codes: [] }, name);
    }
    const data = ok(await urql(url, alice.token).query(ListTasks, { prefix: `${tag} urql` }));
    assert.deepEqual(data.tasks.edges.map((e) => e.node.title), [`${tag} urql alice`]);
  });
});
