// Persisted documents change while the server runs: a manifest dropped into
// the watched directory, SIGHUP, a bad manifest (refused, the old set keeps
// working), and `server documents check`, the same validation offline.
//
// The tests here touch the `only` server's directory (E2E_PQ_DIR), so they
// run one after another and each leaves the directory as it found it; other
// test files only use the generated manifests, which every set holds.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

import { api, pq, scratch, serverBin, uniqueTag } from './env.js';
import { apolloManifest, apolloOps, codegenOps, codegenPlainOps, generatedFiles, relayOps } from './manifests.js';
import { startServer, until } from './spawn.js';

const run = promisify(execFile);
const sha256 = (text) => createHash('sha256').update(text).digest('hex');

/** An Apollo persisted query manifest of the given {name, type, body} operations, ids computed. */
function manifest(ops) {
  return {
    format: 'apollo-persisted-query-manifest',
    version: 1,
    operations: ops.map((op) => ({ id: sha256(op.body), ...op })),
  };
}

/**
 * install writes content to dir/name the way a deploy should: into a file
 * outside the directory, then renamed in, so the watcher never reads half a
 * file.
 */
async function install(dir, name, content) {
  const staging = path.join(scratch, `${name}.${process.pid}.staging`);
  await writeFile(staging, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  await rename(staging, path.join(dir, name));
}

/** POST a persisted query by its sha256 hash to url as alice: the codes, or the data. */
async function byHash(url, id, variables = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${api.alice}` },
    body: JSON.stringify({ variables, extensions: { persistedQuery: { version: 1, sha256Hash: id } } }),
  });
  const body = await res.json();
  return { data: body.data, codes: (body.errors ?? []).map((e) => e.extensions?.code) };
}

async function logLines(log) {
  return (await readFile(log, 'utf8')).split('\n').filter(Boolean);
}

/** The server's "persisted documents loaded" lines, each with its documents=N. */
async function loads(log = pq.log) {
  return (await logLines(log))
    .filter((l) => l.includes('msg="persisted documents loaded"'))
    .map((line) => ({ line, documents: Number(line.match(/\bdocuments=(\d+)/)?.[1]) }));
}

/** The server's ERROR lines about persisted documents. */
async function loadErrors(log = pq.log) {
  return (await logLines(log)).filter((l) => /\blevel=ERROR\b/.test(l) && /persisted documents/i.test(l));
}

/** A probe: a query in no generated manifest (an alias makes the text new). */
function probe(label) {
  const name = `Probe_${uniqueTag(label).replaceAll('-', '_')}`;
  return { name, type: 'query', body: `query ${name} {\n  probe: tasks(first: 1) {\n    total: totalCount\n  }\n}` };
}

describe('reloading persisted documents', { concurrency: 1 }, () => {
  const added = [];
  after(async () => {
    await Promise.all(added.map((f) => rm(f, { force: true })));
  });

  test('a manifest dropped into the directory is loaded within seconds', async () => {
    const op = probe('dropped');
    const id = sha256(op.body);
    assert.deepEqual((await byHash(pq.url, id)).codes, ['PERSISTED_QUERY_NOT_FOUND']);
    const before = await loads();
    assert.ok(before.length > 0, 'a load at start-up');

    const file = path.join(pq.dir, 'dropped.json');
    added.push(file);
    await install(pq.dir, 'dropped.json', manifest([op]));
    const { data } = await until('the new id to work', async () => {
      const res = await byHash(pq.url, id);
      return res.data?.probe ? res : null;
    });
    assert.equal(typeof data.probe.total, 'number');
    const now = await until('a load line', async () => ((await loads()).length > before.length ? loads() : null));
    assert.equal(now.at(-1).documents, before.at(-1).documents + 1, now.at(-1).line);

    // Taken away, it is gone again.
    await rm(file);
    await until('the removed id to be unknown', async () => (await byHash(pq.url, id)).codes[0] === 'PERSISTED_QUERY_NOT_FOUND');
    assert.equal((await until('a load after the removal', async () => {
      const l = await loads();
      return l.length > now.length ? l : null;
    })).at(-1).documents, before.at(-1).documents);
  });

  test('SIGHUP reloads the set', async () => {
    // Nothing changed on disk: the load comes from the signal alone.
    const before = await loads();
    process.kill(pq.pid, 'SIGHUP');
    const after1 = await until('a load after SIGHUP', async () => {
      const l = await loads();
      return l.length > before.length ? l : null;
    });
    assert.equal(after1.at(-1).documents, before.at(-1).documents);

    // A file added and a SIGHUP at once: the watcher may win the race; either
    // way the id works and the log shows a load.
    const op = probe('sighup');
    const file = path.join(pq.dir, 'sighup.json');
    added.push(file);
    await install(pq.dir, 'sighup.json', manifest([op]));
    process.kill(pq.pid, 'SIGHUP');
    await until('the new id to work', async () => (await byHash(pq.url, sha256(op.body))).data?.probe);
    const after2 = await loads();
    assert.ok(after2.length > after1.length);
    assert.equal(after2.at(-1).documents, before.at(-1).documents + 1, after2.at(-1).line);
    await rm(file);
    await until('the removed id to be unknown', async () => (await byHash(pq.url, sha256(op.body))).codes[0] === 'PERSISTED_QUERY_NOT_FOUND');
  });

  test('SIGHUP reloads a manifest named as a file, which is not watched', async () => {
    const dir = await mkdtemp(path.join(scratch, 'pq-file-'));
    const first = probe('file-first');
    const second = probe('file-second');
    await install(dir, 'only.json', manifest([first]));
    const server = await startServer('pq_file', {
      BETTER_AUTH_SECRET: api.secret,
      DATABASE_URL: `sqlite:${path.join(dir, 'tasks.db')}`,
      LOG_LEVEL: 'info',
      PERSISTED_DOCUMENTS: path.join(dir, 'only.json'),
      PERSISTED_DOCUMENTS_MODE: 'only',
    });
    try {
      assert.ok((await byHash(server.query, sha256(first.body))).data?.probe);
      assert.deepEqual((await byHash(server.query, sha256(second.body))).codes, ['PERSISTED_QUERY_NOT_FOUND']);
      await install(dir, 'only.json', manifest([second]));
      const before = await loads(server.log);
      server.child.kill('SIGHUP');
      await until('the second id to work', async () => (await byHash(server.query, sha256(second.body))).data?.probe);
      assert.deepEqual((await byHash(server.query, sha256(first.body))).codes, ['PERSISTED_QUERY_NOT_FOUND'], 'the first set is replaced');
      assert.ok((await loads(server.log)).length > before.length);
    } finally {
      await server.stop();
    }
  });

  const bad = {
    'a wrong sha256 id': (op) => ({ ...manifest([op]), operations: [{ ...manifest([op]).operations[0], id: sha256(`${op.body} `) }] }),
    'a field that does not exist': (op) => manifest([{ ...op, body: op.body.replace('total: totalCount', 'total: totalCount nope') }]),
    'text that does not parse': (op) => manifest([{ ...op, body: op.body.replace(/}\s*$/, '') }]),
    'a file that is not JSON': () => '{"format": "apollo-persisted-query-manifest", "operations": [',
  };
  for (const [what, content] of Object.entries(bad)) {
    test(`a manifest with ${what} is refused; the old set keeps working`, async () => {
      const good = probe('good');
      const goodFile = path.join(pq.dir, 'good.json');
      const badFile = path.join(pq.dir, 'bad.json');
      added.push(goodFile, badFile);
      // Also a good new document in the same reload: it must not be loaded
      // either, since the new set is refused as a whole.
      const earlier = (await loadErrors()).length;
      await install(pq.dir, 'bad.json', content(probe('bad')));
      await install(pq.dir, 'good.json', manifest([good]));
      await until('an ERROR line naming bad.json', async () => (await loadErrors()).slice(earlier).find((l) => l.includes('bad.json')));
      assert.deepEqual((await byHash(pq.url, sha256(good.body))).codes, ['PERSISTED_QUERY_NOT_FOUND'], 'nothing of the refused set is loaded');

      const known = await byHash(pq.url, apolloOps.ListTasks.id, { first: 1, prefix: 'none' });
      assert.deepEqual(known.codes, [], 'a generated id still works');
      assert.equal(known.data.tasks.totalCount, 0);
      const documentId = await fetch(pq.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${api.alice}` },
        body: JSON.stringify({ documentId: codegenOps.TaskList.id, variables: { prefix: 'none' } }),
      }).then((r) => r.json());
      assert.deepEqual(documentId, { data: { tasks: { totalCount: 0, edges: [] } } });

      // Fixed (the bad file removed), the good one loads.
      const errors = (await loadErrors()).length;
      await rm(badFile);
      await until('the good id to work once the bad file is gone', async () => (await byHash(pq.url, sha256(good.body))).data?.probe);
      await rm(goodFile);
      await until('the good id gone again', async () => (await byHash(pq.url, sha256(good.body))).codes[0] === 'PERSISTED_QUERY_NOT_FOUND');
      assert.equal((await loadErrors()).length, errors, 'no more errors once fixed');
    });
  }
});

describe('server documents check', () => {
  const check = (...files) => run(serverBin, ['documents', 'check', ...files], { env: { PATH: process.env.PATH } });

  test('the generated manifests pass, and every id is printed', async () => {
    const { stdout } = await check(...generatedFiles);
    // The server prints ids in one form, bare hex for `sha256:<hex>`, one
    // line per document (id, operations, definitions, file): codegen's two
    // maps hold the same documents under the two spellings of the same ids,
    // so they are printed once.
    const canonical = (id) => id.replace(/^sha256:/, '');
    const want = Object.fromEntries([
      ...apolloManifest.operations.map((o) => [o.id, o.name]),
      ...[codegenOps, codegenPlainOps, relayOps].flatMap((ops) => Object.entries(ops).map(([name, o]) => [canonical(o.id), name])),
    ]);
    const printed = Object.fromEntries(stdout.split('\n').filter((l) => /^[0-9a-f]{32,}\t/.test(l)).map((l) => l.split('\t').slice(0, 2)));
    assert.deepEqual(printed, want, `ids and operation names; stdout:\n${stdout}`);
    assert.match(stdout, new RegExp(`^${Object.keys(want).length} documents\\b`, 'm'));
  });

  test('a bad manifest fails with one line naming the file and the operation', async () => {
    const dir = await mkdtemp(path.join(scratch, 'check-'));
    const cases = {
      'wrong-id.json': { op: 'WrongId', content: { format: 'apollo-persisted-query-manifest', version: 1, operations: [{ id: sha256('x'), name: 'WrongId', type: 'query', body: 'query WrongId { tasks { totalCount } }' }] } },
      'no-field.json': { op: 'NoSuchField', content: manifest([{ name: 'NoSuchField', type: 'query', body: 'query NoSuchField { tasks { nope } }' }]) },
      'codegen-bad.json': { op: 'NoSuchArg', content: { [`sha256:${sha256('query NoSuchArg { task(nope: 1) { id } }')}`]: 'query NoSuchArg { task(nope: 1) { id } }' } },
      'relay-bad.json': { op: 'BadRelayQuery', content: { [createHash('md5').update('q').digest('hex')]: 'query BadRelayQuery { tasks(first: "ten") { totalCount } }' } },
    };
    for (const [name, { op, content }] of Object.entries(cases)) {
      const file = path.join(dir, name);
      await writeFile(file, JSON.stringify(content));
      await assert.rejects(check(generatedFiles[0], file), (err) => {
        assert.notEqual(err.code, 0, name);
        const lines = err.stderr.split('\n').filter(Boolean);
        assert.equal(lines.length, 1, `${name}: one line on stderr, got:\n${err.stderr}`);
        assert.ok(lines[0].includes(name), `${name}: names the file: ${lines[0]}`);
        // By its name where the manifest has one (Apollo's); a flat map
        // (codegen, Relay) has only ids, and the line gives the id's start.
        const id = (content.operations?.[0]?.id ?? Object.keys(content)[0]).replace(/^sha256:/, '');
        assert.ok(lines[0].includes(`"${op}"`) || (!content.operations && lines[0].includes(id.slice(0, 16))),
          `${name}: names the operation: ${lines[0]}`);
        return true;
      }, name);
    }
  });

  test('a bad manifest at start-up stops the server with one line naming the file and the operation', async () => {
    const dir = await mkdtemp(path.join(scratch, 'start-'));
    const body = 'query StartBad { tasks { nope } }';
    await writeFile(path.join(dir, 'release.json'), JSON.stringify(manifest([{ name: 'StartBad', type: 'query', body }])));
    const env = {
      PATH: process.env.PATH,
      PORT: '0',
      BETTER_AUTH_SECRET: api.secret,
      DATABASE_URL: `sqlite:${path.join(dir, 'tasks.db')}`,
      PERSISTED_DOCUMENTS: dir,
      PERSISTED_DOCUMENTS_MODE: 'only',
    };
    // A server that starts anyway would run until the timeout kills it.
    await assert.rejects(run(serverBin, [], { env, timeout: 10_000 }), (err) => {
      assert.equal(err.killed, false, 'the server exited by itself');
      assert.notEqual(err.code, 0);
      const lines = err.stderr.split('\n').filter((l) => l.includes('release.json'));
      assert.equal(lines.length, 1, err.stderr);
      assert.ok(lines[0].includes('"StartBad"'), lines[0]);
      return true;
    });
  });
});
