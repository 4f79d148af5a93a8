// Shared-secret mode with the README's token route as written there: the
// Better Auth app (e2e/better-auth, API_SECRET set by e2e/run) serves
// GET /api/token, which signs an HS256 token for the session's user with
// the API's BETTER_AUTH_SECRET; the server under test accepts it.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { appURL, decode, signUp } from './betterauth.js';
import { api } from './env.js';

async function readmeToken(user) {
  const res = await fetch(`${appURL()}/api/token`, { headers: { cookie: user.cookie } });
  assert.equal(res.status, 200, `GET /api/token: ${res.status}`);
  return (await res.json()).token;
}

async function post(token, query, variables) {
  const res = await fetch(api.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  return { status: res.status, body: await res.json() };
}

describe("the README's shared-secret route", () => {
  test('a Better Auth session gets a token the API takes, for its own user only', async () => {
    const carol = await signUp(appURL(), 'carol');
    const dave = await signUp(appURL(), 'dave');
    const [tc, td] = [await readmeToken(carol), await readmeToken(dave)];
    assert.equal(decode(tc).header.alg, 'HS256');
    assert.equal(decode(tc).payload.sub, carol.id);

    const created = await post(tc, 'mutation($t: String!) { createTask(input: {title: $t}) { id title } }', { t: 'carol via the README route' });
    assert.equal(created.status, 200);
    assert.equal(created.body.errors, undefined, JSON.stringify(created.body));
    const id = created.body.data.createTask.id;

    const mine = await post(tc, '{ tasks { edges { node { id } } } }');
    assert.deepEqual(mine.body.data.tasks.edges.map((e) => e.node.id), [id]);
    const theirs = await post(td, 'query($id: ID!) { task(id: $id) { id } }', { id });
    assert.deepEqual(theirs.body.errors.map((e) => e.extensions.code), ['NOT_FOUND']);

    const none = await fetch(`${appURL()}/api/token`);
    assert.equal(none.status, 401, 'no session, no token');
  });
});
