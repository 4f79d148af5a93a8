// A client of the Better Auth app (e2e/better-auth) through its own HTTP
// API, the way a browser front end uses it, and a way to start one more.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const app = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'better-auth', 'server.js');

/** The Better Auth app e2e/run started (JWT plugin on its defaults). */
export function appURL() {
  const url = process.env.BETTER_AUTH_APP_URL;
  if (!url) throw new Error('BETTER_AUTH_APP_URL is not set: run the tests through e2e/run');
  return url;
}

/**
 * signUp creates a user through POST /api/auth/sign-up/email and returns
 * it with its session cookie (name=value, ready for a Cookie header).
 */
export async function signUp(baseURL, name) {
  const email = `${name}-${randomBytes(4).toString('hex')}@example.com`;
  const res = await fetch(`${baseURL}/api/auth/sign-up/email`, {
    method: 'POST',
    // Node's fetch sends Sec-Fetch-Mode: cors, so Better Auth checks the
    // Origin as it would a browser's (403 MISSING_OR_NULL_ORIGIN without one);
    // a front end served from the app's own origin sends this.
    headers: { 'content-type': 'application/json', origin: baseURL },
    body: JSON.stringify({ name, email, password: `pw-${randomBytes(12).toString('hex')}` }),
  });
  const body = await res.text();
  if (res.status !== 200) throw new Error(`sign-up ${name}: ${res.status} ${body}`);
  const cookie = res.headers.getSetCookie()
    .map((c) => c.split(';')[0])
    .find((c) => c.startsWith('better-auth.session_token='));
  if (!cookie) throw new Error(`sign-up ${name}: no session cookie in ${JSON.stringify(res.headers.getSetCookie())}`);
  return { ...JSON.parse(body).user, cookie };
}

/** token returns the user's JWT from GET /api/auth/token ({token}). */
export async function token(baseURL, user) {
  const res = await fetch(`${baseURL}/api/auth/token`, { headers: { cookie: user.cookie } });
  const body = await res.text();
  if (res.status !== 200) throw new Error(`token for ${user.name}: ${res.status} ${body}`);
  return JSON.parse(body).token;
}

/** jwks returns the document at GET /api/auth/jwks. */
export async function jwks(baseURL) {
  const res = await fetch(`${baseURL}/api/auth/jwks`);
  if (res.status !== 200) throw new Error(`jwks: ${res.status} ${await res.text()}`);
  return res.json();
}

/** The decoded header and payload of a JWT, unverified. */
export function decode(jwt) {
  const [h, p] = jwt.split('.');
  const part = (s) => JSON.parse(Buffer.from(s, 'base64url').toString());
  return { header: part(h), payload: part(p) };
}

/**
 * startApp runs one more Better Auth app with env added (e.g.
 * JWKS_ROTATION_INTERVAL) on a free port, and resolves once it listens to
 * { url, stop }.
 */
export function startApp(env = {}) {
  const child = spawn(process.execPath, [app], {
    env: {
      PATH: process.env.PATH,
      PORT: '0',
      BETTER_AUTH_SECRET: `e2e-better-auth-${randomBytes(16).toString('hex')}`,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const stop = () => new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the Better Auth app did not start within 30s:\n${output}`));
    }, 30_000);
    const seen = (chunk) => {
      output += chunk;
      const m = output.match(/better-auth listening on (http:\/\/\S+)/);
      if (m) {
        clearTimeout(timer);
        resolve({ url: m[1], stop });
      }
    };
    child.stdout.on('data', seen);
    child.stderr.on('data', (chunk) => { output += chunk; });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the Better Auth app exited (${code ?? signal}):\n${output}`));
    });
  });
}
