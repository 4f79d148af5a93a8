// Subscription.taskChanged over WebSocket (graphql-transport-ws), with the
// clients apps use under Node and SSR, the `ws` package as their WebSocket:
//
//   - graphql-ws's own client, Apollo Client 4's GraphQLWsLink (split from an
//     HttpLink) and urql 6's subscriptionExchange over a graphql-ws client;
//   - on one instance always, and across instances (the change made through
//     one, the event delivered by another) when e2e/run started them, which
//     it does on PostgreSQL: events over LISTEN/NOTIFY, and over Redis;
//   - each user hears only of their own tasks;
//   - connection_init without a valid token is closed with 4403, and
//     graphql-ws retries it with fresh connectionParams; the 21st socket of
//     a user is closed with 4429, which graphql-ws does not retry; a page
//     from another origin is refused the upgrade; the `only`-mode server
//     refuses a free-form subscription.
//
// Every test subscribes as users of its own (tokens signed here), so no
// other test file's changes, running at the same time, reach its feeds.
// A subscription is live once the server has run its resolver, which no
// message tells the client: live() makes probe changes until one arrives.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';

import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { isSubscriptionOperation } from '@apollo/client/utilities';
import { Client as UrqlClient, fetchExchange, subscriptionExchange } from '@urql/core';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

import { api, expiredToken, instances, pq, tokenFor, uniqueTag } from './env.js';

/** How long any one wait may take: events arrive within a second or two. */
const WAIT_MS = 10_000;

// The close codes the server uses (graph/websocket.go).
const CLOSE_FORBIDDEN = 4403;
const CLOSE_TOO_MANY_CONNECTIONS = 4429;
const MAX_CONNECTIONS_PER_USER = 20;
const MAX_SUBSCRIPTIONS_PER_CONNECTION = 10;

const TaskChanged = 'subscription TaskChanged { taskChanged { kind taskId task { id title } } }';

const base = (url) => url.replace(/\/query$/, '');
const wsURL = (httpBase) => `${httpBase.replace(/^http/, 'ws')}/query`;

/**
 * The instance pairs to run on: (a, b), a subscriber on a and changes made
 * through b. One instance always; across instances only when e2e/run
 * started them, and when it said it would (E2E_SUBSCRIPTIONS_CROSS=1),
 * their absence fails instead of skipping.
 */
const one = { name: 'one instance', a: base(api.url), b: base(api.url) };
const cross = [
  { name: 'two instances, events over PostgreSQL LISTEN/NOTIFY', a: base(api.url), b: instances.url2 },
  { name: 'two instances, events over Redis pub/sub', a: instances.redis1, b: instances.redis2, redis: true },
];
const noCross = 'needs two server instances on one database, which e2e/run starts only on PostgreSQL (E2E_DATABASE_URL): on SQLite, events stay in their process';

/** crossTest is test() on a cross-instance pair: skipped, saying why, when e2e/run did not start it. */
function crossTest(pair, name, fn) {
  const missing = !pair.a || !pair.b;
  if (missing && !instances.required) {
    return test(`${pair.name}: ${name}`, { skip: noCross }, () => {});
  }
  return test(`${pair.name}: ${name}`, async (t) => {
    assert.ok(!missing, `E2E_SUBSCRIPTIONS_CROSS=1 but e2e/run started no ${pair.name} (E2E_URL2, E2E_REDIS_URL1/2)`);
    await fn(t);
  });
}

/** A user of the test's own, with the ids of the probe tasks made to show their feeds live. */
function user(tag, name) {
  const sub = `${tag}-${name}`;
  return { sub, token: tokenFor(sub), probes: new Set() };
}

/**
 * Feed holds what one subscription delivered, in order. take() hands out
 * everything; next() skips the owner's probe tasks and fails past WAIT_MS.
 */
class Feed {
  constructor(owner) {
    this.owner = owner;
    this.items = [];
    this.ended = null;
    this.wake = () => {};
    this.done = new Promise((resolve) => {
      this.resolveDone = resolve;
    });
  }

  push(event) {
    this.items.push(event);
    this.wake();
  }

  end(err) {
    this.ended ??= err;
    this.resolveDone(this);
    this.wake();
  }

  /** The next event within ms, or undefined; throws if the subscription ended. */
  async take(ms) {
    const deadline = Date.now() + ms;
    for (;;) {
      if (this.items.length > 0) return this.items.shift();
      if (this.ended) throw this.ended;
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** The next event not about a probe, failing the test if none comes within WAIT_MS. */
  async next() {
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      const e = await this.take(deadline - Date.now());
      assert.ok(e, `no event for ${this.owner.sub} within ${WAIT_MS} ms`);
      if (!this.owner.probes.has(e.taskId)) return e;
    }
  }
}

/**
 * live makes probe tasks through ops until feed delivers an event: from
 * then on the subscription is registered, and no later change is missed.
 */
async function live(feed, ops) {
  const deadline = Date.now() + WAIT_MS;
  while (Date.now() < deadline) {
    const probe = await ops.create(`probe for ${feed.owner.sub}`);
    feed.owner.probes.add(probe.id);
    const e = await feed.take(Math.min(300, deadline - Date.now()));
    if (e) {
      assert.ok(feed.owner.probes.has(e.taskId), `the first event is a probe of ${feed.owner.sub}'s: ${JSON.stringify(e)}`);
      return;
    }
  }
  assert.fail(`${feed.owner.sub}'s subscription delivered none of ${feed.owner.probes.size} probe changes within ${WAIT_MS} ms`);
}

/** http changes tasks over plain HTTP POST on the instance at httpBase. */
function http(httpBase, token) {
  async function send(query, variables) {
    const res = await fetch(`${httpBase}/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query, variables }),
    });
    const body = await res.json();
    assert.equal(body.errors, undefined, `${res.status} ${JSON.stringify(body.errors)}`);
    return body.data;
  }
  return {
    create: async (title) => (await send('mutation ($t: String!) { createTask(input: { title: $t }) { id title } }', { t: title })).createTask,
    update: async (id, title) => (await send('mutation ($id: ID!, $t: String) { updateTask(id: $id, input: { title: $t }) { id title } }', { id, t: title })).updateTask,
    remove: async (id) => (await send('mutation ($id: ID!) { deleteTask(id: $id) }', { id })).deleteTask,
  };
}

/** wsClient is a graphql-ws client for the instance at httpBase, disposed when t ends. */
function wsClient(t, httpBase, token, options = {}) {
  const client = createClient({
    url: wsURL(httpBase),
    webSocketImpl: WebSocket,
    connectionParams: () => ({ Authorization: `Bearer ${token}` }),
    retryAttempts: 0,
    ...options,
  });
  t.after(() => client.dispose());
  return client;
}

/** subscribe runs taskChanged on a graphql-ws client, into a Feed. */
function subscribe(client, owner) {
  const feed = new Feed(owner);
  client.subscribe({ query: TaskChanged }, {
    next: (r) => (r.errors ? feed.end(r.errors) : feed.push(r.data.taskChanged)),
    error: (err) => feed.end(err),
    complete: () => feed.end(new Error('the subscription completed')),
  });
  return feed;
}

/** refusal waits for the close event a graphql-ws client's subscription fails with. */
async function refusal(client) {
  const err = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not closed within ${WAIT_MS} ms`)), WAIT_MS);
    client.subscribe({ query: TaskChanged }, {
      next: (r) => reject(new Error(`an event: ${JSON.stringify(r)}`)),
      error: (e) => {
        clearTimeout(timer);
        resolve(e);
      },
      complete: () => reject(new Error('completed')),
    });
  });
  assert.ok(err && 'code' in err, `a close event, got ${err?.message ?? JSON.stringify(err)}`);
  return err;
}

/**
 * changesAreDelivered is the scenario every client runs: Alice subscribed
 * through aliceFeed (on a), her changes made through aliceOps (on b), one
 * at a time and then back to back; Bob's feeds hear none of them.
 */
async function changesAreDelivered({ tag, alice, aliceFeed, aliceOps, bob, bobFeeds, bobOps }) {
  await live(aliceFeed, aliceOps);
  for (const feed of bobFeeds) {
    await live(feed, bobOps);
  }

  // One at a time: each event read before the next change, so the task it
  // carries (read when delivered) is the one just written.
  const title = `${tag} one at a time`;
  const created = await aliceOps.create(title);
  assert.deepEqual(await aliceFeed.next(), { kind: 'CREATED', taskId: created.id, task: { id: created.id, title } });
  await aliceOps.update(created.id, `${title} renamed`);
  assert.deepEqual(await aliceFeed.next(), { kind: 'UPDATED', taskId: created.id, task: { id: created.id, title: `${title} renamed` } });
  assert.equal(await aliceOps.remove(created.id), created.id);
  assert.deepEqual(await aliceFeed.next(), { kind: 'DELETED', taskId: created.id, task: null });

  // Back to back: the events come in order; a task deleted by the time its
  // event is delivered is null.
  const quick = await aliceOps.create(`${tag} back to back`);
  await aliceOps.update(quick.id, `${tag} back to back renamed`);
  await aliceOps.remove(quick.id);
  const events = [await aliceFeed.next(), await aliceFeed.next(), await aliceFeed.next()];
  assert.deepEqual(events.map((e) => [e.kind, e.taskId]), [['CREATED', quick.id], ['UPDATED', quick.id], ['DELETED', quick.id]]);
  for (const e of events) {
    assert.ok(e.task === null || e.task.id === quick.id, JSON.stringify(e));
  }
  assert.equal(events[2].task, null);

  // Bob heard none of it: the first event after his probes is his own
  // change, made after Alice's events reached her feed. (Instances publish
  // in the background, so a change answered is not yet a change published;
  // an event delivered is, and every instance hears events in the order
  // the broker took them.) And Alice none of his.
  const bobs = await bobOps.create(`${tag} bob's`);
  for (const feed of bobFeeds) {
    const e = await feed.next();
    assert.deepEqual([e.kind, e.taskId], ['CREATED', bobs.id], `${bob.sub}'s first event is his own`);
  }
  const again = await aliceOps.create(`${tag} again`);
  const e = await aliceFeed.next();
  assert.deepEqual([e.kind, e.taskId], ['CREATED', again.id], `${alice.sub}'s next event is her own`);
}

/** redisSubscribers is PUBSUB NUMSUB channel on the Redis at url: how many clients listen on it. */
async function redisSubscribers(url, channel) {
  const u = new URL(url);
  const command = (...args) => `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
  let out = u.password ? command('AUTH', ...(u.username ? [decodeURIComponent(u.username)] : []), decodeURIComponent(u.password)) : '';
  out += command('PUBSUB', 'NUMSUB', channel);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(u.port || 6379), u.hostname);
    let reply = '';
    socket.setTimeout(WAIT_MS, () => socket.destroy(new Error('Redis did not answer')));
    socket.on('error', reject);
    socket.on('connect', () => socket.write(out));
    socket.on('data', (chunk) => {
      reply += chunk;
      if (reply.startsWith('-')) {
        socket.destroy();
        reject(new Error(`Redis: ${reply.trim()}`));
      }
      const m = reply.match(/:(\d+)\r\n$/);
      if (m) {
        socket.end();
        resolve(Number(m[1]));
      }
    });
  });
}

describe('graphql-ws client', () => {
  for (const pair of [one, ...cross]) {
    const run = pair === one ? (name, fn) => test(`${pair.name}: ${name}`, fn) : (name, fn) => crossTest(pair, name, fn);
    run("a user's changes reach their subscription in order, and no one else's", async (t) => {
      const tag = uniqueTag('sub-ws');
      const alice = user(tag, 'alice');
      const bob = user(tag, 'bob');
      const aliceFeed = subscribe(wsClient(t, pair.a, alice.token), alice);
      const bobFeeds = [pair.a, pair.b].map((at) => subscribe(wsClient(t, at, bob.token), bob));
      await changesAreDelivered({
        tag, alice, aliceFeed, aliceOps: http(pair.b, alice.token),
        bob, bobFeeds, bobOps: http(pair.a, bob.token),
      });
      if (pair.redis) {
        // The pair's events go through Redis (a channel per user), not NOTIFY.
        assert.ok(await redisSubscribers(instances.redis, `tasks_events:${alice.sub}`) >= 1,
          `an instance subscribed to tasks_events:${alice.sub} on ${instances.redis}`);
      }
    });
  }

  test('the token may be under authorization as well as Authorization', async (t) => {
    const alice = user(uniqueTag('sub-lower'), 'alice');
    const feed = subscribe(wsClient(t, one.a, alice.token, {
      connectionParams: () => ({ authorization: `Bearer ${alice.token}` }),
    }), alice);
    await live(feed, http(one.b, alice.token));
  });
});

describe('Apollo Client 4: GraphQLWsLink for subscriptions, HttpLink for the rest', () => {
  const TaskChangedDoc = gql(TaskChanged);
  const Create = gql`mutation Create($t: String!) { createTask(input: { title: $t }) { id title } }`;
  const Update = gql`mutation Update($id: ID!, $t: String) { updateTask(id: $id, input: { title: $t }) { id title } }`;
  const Remove = gql`mutation Remove($id: ID!) { deleteTask(id: $id) }`;

  /** An Apollo Client subscribing on wsBase and sending everything else to httpBase, recording its HTTP operations. */
  function apollo(t, wsBase, httpBase, token) {
    const posted = [];
    const link = ApolloLink.split(
      ({ query }) => isSubscriptionOperation(query),
      new GraphQLWsLink(wsClient(t, wsBase, token)),
      new HttpLink({
        uri: `${httpBase}/query`,
        headers: { authorization: `Bearer ${token}` },
        fetch: (uri, init) => {
          posted.push(JSON.parse(init.body).operationName);
          return fetch(uri, init);
        },
      }),
    );
    const client = new ApolloClient({ link, cache: new InMemoryCache(), defaultOptions: { mutate: { fetchPolicy: 'no-cache' } } });
    t.after(() => client.stop());
    const ops = {
      create: async (title) => (await client.mutate({ mutation: Create, variables: { t: title } })).data.createTask,
      update: async (id, title) => (await client.mutate({ mutation: Update, variables: { id, t: title } })).data.updateTask,
      remove: async (id) => (await client.mutate({ mutation: Remove, variables: { id } })).data.deleteTask,
    };
    return { client, ops, posted };
  }

  const withoutTypename = (v) => JSON.parse(JSON.stringify(v, (k, x) => (k === '__typename' ? undefined : x)));

  function feedOf(client, owner) {
    const feed = new Feed(owner);
    client.subscribe({ query: TaskChangedDoc, fetchPolicy: 'no-cache' }).subscribe({
      // The cache adds __typename to every selection; the feed compares without.
      next: ({ data, error }) => (error ? feed.end(error) : feed.push(withoutTypename(data.taskChanged))),
      error: (err) => feed.end(err),
      complete: () => feed.end(new Error('the subscription completed')),
    });
    return feed;
  }

  for (const pair of [one, cross[0]]) {
    const run = pair === one ? (name, fn) => test(`${pair.name}: ${name}`, fn) : (name, fn) => crossTest(pair, name, fn);
    run('client.subscribe receives the events of changes made with client.mutate', async (t) => {
      const tag = uniqueTag('sub-apollo');
      const alice = user(tag, 'alice');
      const bob = user(tag, 'bob');
      // Subscriptions on a, the rest on b: as behind a load balancer.
      const a = apollo(t, pair.a, pair.b, alice.token);
      const b = apollo(t, pair.b, pair.a, bob.token);
      await changesAreDelivered({
        tag, alice, aliceFeed: feedOf(a.client, alice), aliceOps: a.ops,
        bob, bobFeeds: [feedOf(b.client, bob)], bobOps: b.ops,
      });
      // The split sent every mutation over HTTP and no subscription.
      assert.ok(a.posted.length >= 7);
      assert.deepEqual([...new Set(a.posted)].sort(), ['Create', 'Remove', 'Update']);
    });
  }
});

describe('urql 6: subscriptionExchange over a graphql-ws client', () => {
  const Create = 'mutation Create($t: String!) { createTask(input: { title: $t }) { id title } }';
  const Update = 'mutation Update($id: ID!, $t: String) { updateTask(id: $id, input: { title: $t }) { id title } }';
  const Remove = 'mutation Remove($id: ID!) { deleteTask(id: $id) }';

  /** An urql client subscribing on wsBase (graphql-ws) and fetching from httpBase, recording its HTTP operations. */
  function urql(t, wsBase, httpBase, token) {
    const ws = wsClient(t, wsBase, token);
    const fetched = [];
    const client = new UrqlClient({
      url: `${httpBase}/query`,
      fetchOptions: { headers: { authorization: `Bearer ${token}` } },
      fetch: (uri, init) => {
        fetched.push(JSON.parse(init.body).operationName);
        return fetch(uri, init);
      },
      exchanges: [
        fetchExchange,
        subscriptionExchange({
          // As urql's documentation has it for graphql-ws.
          forwardSubscription(request) {
            const input = { ...request, query: request.query || '' };
            return { subscribe: (sink) => ({ unsubscribe: ws.subscribe(input, sink) }) };
          },
        }),
      ],
    });
    async function mutate(query, variables) {
      const r = await client.mutation(query, variables).toPromise();
      assert.equal(r.error, undefined, r.error?.message);
      return r.data;
    }
    const ops = {
      create: async (title) => (await mutate(Create, { t: title })).createTask,
      update: async (id, title) => (await mutate(Update, { id, t: title })).updateTask,
      remove: async (id) => (await mutate(Remove, { id })).deleteTask,
    };
    return { client, ops, fetched };
  }

  function feedOf(t, client, owner) {
    const feed = new Feed(owner);
    const { unsubscribe } = client.subscription(TaskChanged, {}).subscribe((r) => {
      if (r.error) feed.end(r.error);
      else feed.push(r.data.taskChanged);
    });
    t.after(unsubscribe);
    return feed;
  }

  for (const pair of [one, cross[0]]) {
    const run = pair === one ? (name, fn) => test(`${pair.name}: ${name}`, fn) : (name, fn) => crossTest(pair, name, fn);
    run('client.subscription receives the events of changes made with client.mutation', async (t) => {
      const tag = uniqueTag('sub-urql');
      const alice = user(tag, 'alice');
      const bob = user(tag, 'bob');
      const a = urql(t, pair.a, pair.b, alice.token);
      const b = urql(t, pair.b, pair.a, bob.token);
      await changesAreDelivered({
        tag, alice, aliceFeed: feedOf(t, a.client, alice), aliceOps: a.ops,
        bob, bobFeeds: [feedOf(t, b.client, bob)], bobOps: b.ops,
      });
      assert.deepEqual([...new Set(a.fetched)].sort(), ['Create', 'Remove', 'Update']);
    });
  }
});

describe('refusals', () => {
  const url = base(api.url);

  for (const [name, params] of [
    ['no connectionParams', undefined],
    ['no token', () => ({})],
    ['a malformed token', () => ({ Authorization: 'Bearer not-a-jwt' })],
    ['a token without Bearer', () => ({ Authorization: api.alice })],
    ['an expired token', () => ({ Authorization: `Bearer ${expiredToken('alice')}` })],
    ['a token with a wrong signature', () => ({ Authorization: `Bearer ${api.alice.slice(0, -4)}AAAA` })],
  ]) {
    test(`connection_init with ${name} is closed with ${CLOSE_FORBIDDEN}`, async (t) => {
      const closed = [];
      const client = wsClient(t, url, null, { connectionParams: params, on: { closed: (e) => closed.push(e.code) } });
      const err = await refusal(client);
      assert.equal(err.code, CLOSE_FORBIDDEN, `close ${err.code} ${err.reason}`);
      assert.deepEqual(closed, [CLOSE_FORBIDDEN]);
    });
  }

  test(`graphql-ws retries ${CLOSE_FORBIDDEN}, asking connectionParams for a token again`, async (t) => {
    const alice = user(uniqueTag('sub-retry'), 'alice');
    const tokens = ['Bearer not-a-jwt', `Bearer ${alice.token}`];
    const asked = [];
    const closed = [];
    const client = wsClient(t, url, null, {
      retryAttempts: 1,
      retryWait: async () => {},
      connectionParams: () => {
        asked.push(tokens[asked.length]);
        return { Authorization: asked.at(-1) };
      },
      on: { closed: (e) => closed.push(e.code) },
    });
    const feed = subscribe(client, alice);
    await live(feed, http(url, alice.token));
    assert.deepEqual(asked, tokens);
    assert.deepEqual(closed, [CLOSE_FORBIDDEN]);
  });

  test(`a user's socket past ${MAX_CONNECTIONS_PER_USER} on an instance is closed with ${CLOSE_TOO_MANY_CONNECTIONS}, which graphql-ws does not retry`, async (t) => {
    const carol = user(uniqueTag('sub-conns'), 'carol');
    // connect resolves once the server acknowledges connection_init, and
    // rejects with the close codes seen when the client gives up.
    const connect = (options = {}) => new Promise((resolve, reject) => {
      const closed = [];
      const timer = setTimeout(() => reject(new Error(`not connected within ${WAIT_MS} ms`)), WAIT_MS);
      wsClient(t, url, carol.token, {
        lazy: false,
        ...options,
        on: {
          connected: () => {
            clearTimeout(timer);
            resolve();
          },
          closed: (e) => closed.push(e.code),
        },
        onNonLazyError: () => {
          clearTimeout(timer);
          reject(closed);
        },
      });
    });
    await Promise.all(Array.from({ length: MAX_CONNECTIONS_PER_USER }, () => connect()));
    const closed = await connect({ retryAttempts: 5, retryWait: async () => {} }).then(() => assert.fail('connected'), (c) => c);
    assert.deepEqual(closed, [CLOSE_TOO_MANY_CONNECTIONS]);
  });

  test(`a connection runs at most ${MAX_SUBSCRIPTIONS_PER_CONNECTION} subscriptions`, async (t) => {
    const dave = user(uniqueTag('sub-limit'), 'dave');
    const client = wsClient(t, url, dave.token);
    const feeds = Array.from({ length: MAX_SUBSCRIPTIONS_PER_CONNECTION + 1 }, () => subscribe(client, dave));
    let timer;
    const refused = await Promise.race([
      ...feeds.map((f) => f.done),
      new Promise((resolve) => {
        timer = setTimeout(resolve, WAIT_MS);
      }),
    ]);
    clearTimeout(timer);
    assert.ok(refused, `none of ${feeds.length} subscriptions refused within ${WAIT_MS} ms`);
    assert.deepEqual(refused.ended.map?.((e) => e.extensions?.code), ['SUBSCRIPTION_LIMIT_EXCEEDED'], String(refused.ended));
    // The others are live.
    const ops = http(url, dave.token);
    for (const feed of feeds.filter((f) => f !== refused)) {
      await live(feed, ops);
    }
  });

  test('a page from an origin not allowed is refused the upgrade', async () => {
    const { status, body } = await new Promise((resolve, reject) => {
      const ws = new WebSocket(wsURL(url), 'graphql-transport-ws', { origin: 'https://elsewhere.example' });
      ws.on('unexpected-response', (_req, res) => {
        let text = '';
        res.on('data', (chunk) => { text += chunk; });
        res.on('end', () => {
          resolve({ status: res.statusCode, body: text });
          ws.terminate();
        });
      });
      ws.on('open', () => {
        ws.close();
        reject(new Error('upgraded'));
      });
      ws.on('error', reject);
    });
    assert.equal(status, 403);
    assert.equal(JSON.parse(body).errors[0].extensions.code, 'ORIGIN_NOT_ALLOWED', body);
  });

  test('the `only`-mode server refuses a free-form subscription with PERSISTED_QUERY_NOT_IN_LIST', async (t) => {
    const client = wsClient(t, base(pq.url), api.alice);
    const errors = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer within ${WAIT_MS} ms`)), WAIT_MS);
      client.subscribe({ query: TaskChanged }, {
        next: (r) => {
          clearTimeout(timer);
          r.errors ? resolve(r.errors) : reject(new Error(`an event: ${JSON.stringify(r)}`));
        },
        error: (e) => {
          clearTimeout(timer);
          resolve(e);
        },
        complete: () => reject(new Error('completed without an error')),
      });
    });
    assert.ok(Array.isArray(errors), `GraphQL errors, got ${errors?.code ?? ''} ${errors?.message ?? JSON.stringify(errors)}`);
    assert.deepEqual(errors.map((e) => e.extensions?.code), ['PERSISTED_QUERY_NOT_IN_LIST']);
  });
});
