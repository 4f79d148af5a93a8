// Servers a test starts for itself from the binary e2e/run built, like
// e2e/run's start: exactly the environment given (plus PATH and HOME), a
// free port, its log in the run's scratch directory (e2e/run prints the
// tail of every *.log there when the run fails).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { openSync, closeSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { scratch, serverBin } from './env.js';

async function freePort() {
  const srv = createServer().listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address();
  srv.close();
  await once(srv, 'close');
  return port;
}

/**
 * until polls check (every 50 ms) until it returns something truthy, and
 * returns that; after timeoutMs it fails saying what it waited for and what
 * check returned last.
 */
export async function until(what, check, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await check();
    if (last) return last;
    if (Date.now() > deadline) {
      throw new Error(`waited ${timeoutMs} ms for ${what}; last: ${JSON.stringify(last)}`);
    }
    await sleep(50);
  }
}

/**
 * startServer runs the server with env, waits for /healthz and returns its
 * base URL, process, log path and a stop function.
 */
export async function startServer(name, env) {
  const port = await freePort();
  const log = path.join(scratch, `${name}.log`);
  const out = openSync(log, 'a');
  const child = spawn(serverBin, [], {
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      PORT: String(port),
      // As e2e/run starts its servers: a budget the suite cannot spend.
      RATE_LIMIT_COST_PER_MINUTE: process.env.E2E_RATE_LIMIT_COST_PER_MINUTE ?? '100000000',
      RATE_LIMIT_BURST: process.env.E2E_RATE_LIMIT_BURST ?? '100000000',
      ...env,
    },
    stdio: ['ignore', out, out],
  });
  closeSync(out);
  let exited = null;
  child.on('exit', (code, signal) => {
    exited = { code, signal };
  });
  const url = `http://127.0.0.1:${port}`;
  await until(`${name} server's /healthz`, async () => {
    if (exited) throw new Error(`the ${name} server exited (${JSON.stringify(exited)}); see ${log}`);
    try {
      return (await fetch(`${url}/healthz`)).ok;
    } catch {
      return false;
    }
  }, 30_000);
  return {
    url,
    query: `${url}/query`,
    child,
    log,
    async stop() {
      if (exited) return;
      const gone = once(child, 'exit');
      child.kill('SIGTERM');
      await gone;
    },
  };
}
