// The Better Auth app alone (no server of ours): users sign up through its
// own HTTP API, and the JWTs its JWT plugin hands out verify against its
// JWKS with jose. This pins what the server's JWKS mode must accept.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';

import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';

import { appURL, decode, jwks, signUp, startApp, token } from './betterauth.js';

describe('Better Auth (JWT plugin defaults)', () => {
  const base = appURL();
  let alice;
  let bob;

  before(async () => {
    alice = await signUp(base, 'alice');
    bob = await signUp(base, 'bob');
  });

  test('each user gets a token from GET /api/auth/token that verifies against the JWKS', async () => {
    const set = await jwks(base);
    for (const user of [alice, bob]) {
      const jwt = await token(base, user);
      const header = decodeProtectedHeader(jwt);
      assert.equal(header.alg, 'EdDSA');
      assert.ok(header.kid, 'a kid');
      assert.deepEqual(Object.keys(header).sort(), ['alg', 'kid'], 'no typ, no jku/x5u/jwk');
      assert.ok(set.keys.some((k) => k.kid === header.kid), `kid ${header.kid} is in the JWKS`);

      const { payload } = await jwtVerify(jwt, createLocalJWKSet(set), {
        algorithms: ['EdDSA'],
        issuer: base,
        audience: base,
      });
      assert.equal(payload.sub, user.id);
      // Exactly the configured baseURL: a string, no trailing slash added.
      assert.equal(payload.iss, base);
      assert.equal(payload.aud, base);
      assert.equal(payload.exp - payload.iat, 900);
      assert.equal(payload.nbf, undefined);
      assert.ok(Math.abs(payload.iat - Date.now() / 1000) < 60, 'iat is now');
      // The whole user record rides along as extra claims.
      assert.equal(payload.email, user.email);
      assert.equal(payload.id, user.id);
    }
  });

  test("the two users' tokens name different subjects", async () => {
    const a = decode(await token(base, alice)).payload;
    const b = decode(await token(base, bob)).payload;
    assert.notEqual(a.sub, b.sub);
  });

  test('GET /api/auth/get-session hands out the same kind of token in set-auth-jwt', async () => {
    const res = await fetch(`${base}/api/auth/get-session`, { headers: { cookie: alice.cookie } });
    assert.equal(res.status, 200);
    const session = await res.json();
    assert.equal(session.user.id, alice.id);
    assert.match(res.headers.get('access-control-expose-headers') ?? '', /set-auth-jwt/i);
    const jwt = res.headers.get('set-auth-jwt');
    assert.ok(jwt, 'a set-auth-jwt header');
    const { payload, protectedHeader } = await jwtVerify(jwt, createLocalJWKSet(await jwks(base)), {
      algorithms: ['EdDSA'],
      issuer: base,
      audience: base,
    });
    assert.equal(protectedHeader.alg, 'EdDSA');
    assert.equal(payload.sub, alice.id);
    assert.equal(payload.exp - payload.iat, 900);
  });

  test('the JWKS: Ed25519 public keys with kid and alg, no use, nothing private', async () => {
    const set = await jwks(base);
    assert.ok(set.keys.length >= 1);
    for (const k of set.keys) {
      assert.deepEqual(Object.keys(k).sort(), ['alg', 'crv', 'kid', 'kty', 'x']);
      assert.equal(k.kty, 'OKP');
      assert.equal(k.crv, 'Ed25519');
      assert.equal(k.alg, 'EdDSA');
      assert.equal(k.use, undefined);
      assert.equal(k.d, undefined, 'no private part');
    }
  });

  test('without a session there is no token', async () => {
    const res = await fetch(`${base}/api/auth/token`);
    assert.equal(res.status, 401);
  });
});

describe('Better Auth with a short jwks.rotationInterval', () => {
  let app;
  before(async () => {
    app = await startApp({ JWKS_ROTATION_INTERVAL: '2' });
  });
  after(() => app?.stop());

  test('a new key signs once the interval is over; the old one stays published and valid', async () => {
    const user = await signUp(app.url, 'carol');
    const first = await token(app.url, user);
    const firstKid = decodeProtectedHeader(first).kid;
    await sleep(2500);
    const second = await token(app.url, user);
    const secondKid = decodeProtectedHeader(second).kid;
    assert.notEqual(secondKid, firstKid, 'a new kid after the rotation interval');

    const set = await jwks(app.url);
    assert.deepEqual(set.keys.map((k) => k.kid).sort(), [firstKid, secondKid].sort());
    for (const jwt of [first, second]) {
      const { payload } = await jwtVerify(jwt, createLocalJWKSet(set), { issuer: app.url, audience: app.url });
      assert.equal(payload.sub, user.id);
    }
  });
});

describe('Better Auth with baseURL configured with a trailing slash', () => {
  let app;
  before(async () => {
    app = await startApp({ BASE_URL_TRAILING_SLASH: '1' });
  });
  after(() => app?.stop());

  test('iss and aud are the URL without it (1.7 normalizes baseURL)', async () => {
    const user = await signUp(app.url, 'dave');
    const { payload } = decode(await token(app.url, user));
    assert.equal(payload.iss, app.url);
    assert.equal(payload.aud, app.url);
    assert.doesNotMatch(payload.iss, /\/$/);
  });
});
