// HTTP below GraphQL, with node:http so the headers are exactly the test's
// (fetch adds Accept-Encoding itself and hides Content-Encoding by
// decompressing): response compression, and a body over the limit answered
// with a 413 the client gets to read.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { gunzipSync } from 'node:zlib';

import { api, uniqueTag } from './env.js';

/**
 * request sends body to the server under test with exactly headers (plus
 * Host, Content-Length and the token) and returns the status, headers and
 * raw body bytes.
 */
function request(body, headers) {
  return new Promise((resolve, reject) => {
    const data = Buffer.from(JSON.stringify(body));
    const req = http.request(api.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': data.length, authorization: `Bearer ${api.alice}`, ...headers },
    });
    req.on('response', (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(data);
  });
}

describe('compression', () => {
  const tag = uniqueTag('gzip');
  const list = {
    query: 'query List($prefix: String!) { tasks(first: 100, where: { titleHasPrefix: $prefix }) { totalCount edges { cursor node { id title description isCompleted createdAt updatedAt } } } }',
    variables: { prefix: tag },
  };

  before(async () => {
    // 30 tasks: an answer of tens of kilobytes, well over any sensible
    // threshold for compressing.
    const create = 'mutation Create($input: CreateTaskInput!) { createTask(input: $input) { id } }';
    await Promise.all(Array.from({ length: 30 }, async (_, i) => {
      const res = await request({
        query: create,
        variables: { input: { title: `${tag} ${String(i).padStart(2, '0')}`, description: `task ${i} of the compression test `.repeat(8) } },
      }, {});
      assert.equal(res.status, 200, res.body.toString());
    }));
  });

  test('a large answer is gzip-compressed when the client asks for it', async () => {
    const res = await request(list, { 'accept-encoding': 'gzip' });
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-encoding'], 'gzip');
    const answer = JSON.parse(gunzipSync(res.body).toString());
    assert.equal(answer.data.tasks.totalCount, 30);
    assert.ok(res.body.length < JSON.stringify(answer).length / 2, `compressed to ${res.body.length} bytes`);
    console.log(`gzip: ${JSON.stringify(answer).length} bytes of JSON sent as ${res.body.length}; vary: ${res.headers.vary}`);
  });

  test('and not compressed when the client does not ask', async () => {
    const res = await request(list, {});
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-encoding'], undefined);
    assert.equal(JSON.parse(res.body.toString()).data.tasks.totalCount, 30);

    const identity = await request(list, { 'accept-encoding': 'identity' });
    assert.equal(identity.headers['content-encoding'], undefined);
  });

  test('zstd offered: noted, never answered with an encoding not asked for', async () => {
    const res = await request(list, { 'accept-encoding': 'zstd' });
    assert.equal(res.status, 200);
    const encoding = res.headers['content-encoding'];
    assert.ok(encoding === undefined || encoding === 'zstd', `content-encoding ${encoding} for zstd alone`);
    console.log(`zstd offered alone: content-encoding ${encoding ?? '(none)'}`);
    const both = await request(list, { 'accept-encoding': 'zstd, gzip' });
    console.log(`zstd, gzip offered: content-encoding ${both.headers['content-encoding'] ?? '(none)'}`);
    assert.ok(['zstd', 'gzip'].includes(both.headers['content-encoding']));
  });
});

/**
 * postTooLarge streams size bytes of body to the server under test (with
 * Content-Length declared, or chunked), writing all of it with back-pressure
 * as browsers and fetch do (an early answer does not stop them), and
 * resolves with the answer once it is read in full. A connection reset
 * before that rejects; one after it (the server closing a connection whose
 * body it will not read) does not matter.
 */
function postTooLarge(size, { chunked = false } = {}) {
  return new Promise((resolve, reject) => {
    let answered = false;
    let sent = 0;
    const start = Date.now();
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${api.alice}` };
    if (!chunked) headers['content-length'] = size;
    const req = http.request(api.url, { method: 'POST', headers });
    req.on('response', (res) => {
      answered = true;
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString(), sent, ms: Date.now() - start });
        req.destroy();
      });
      res.on('error', reject);
    });
    req.on('error', (err) => {
      if (!answered) reject(err);
    });
    const prefix = Buffer.from('{"query":"{ tasks { totalCount } }","variables":{"pad":"');
    const chunk = Buffer.alloc(64 * 1024, 'a');
    const pump = () => {
      while (sent < size) {
        const piece = sent === 0 ? prefix : chunk.subarray(0, Math.min(chunk.length, size - sent));
        sent += piece.length;
        if (!req.write(piece)) {
          req.once('drain', pump);
          return;
        }
      }
      if (sent >= size) req.end();
    };
    pump();
  });
}

describe('a body over the limit', () => {
  const size = 5 * 1024 * 1024; // the limit is 1 MiB

  for (const chunked of [false, true]) {
    test(`is a 413 REQUEST_TOO_LARGE the client reads, not a reset (${chunked ? 'chunked' : 'Content-Length'})`, { timeout: 15_000 }, async () => {
      const res = await postTooLarge(size, { chunked });
      assert.equal(res.status, 413, res.body);
      const body = JSON.parse(res.body);
      assert.equal(body.errors[0].extensions.code, 'REQUEST_TOO_LARGE', res.body);
      console.log(`${chunked ? 'chunked' : 'Content-Length'}: 413 read in full after ${res.ms} ms, ${res.sent} of ${size} bytes sent by then; limit ${body.errors[0].extensions.limit}`);
    });
  }
});
