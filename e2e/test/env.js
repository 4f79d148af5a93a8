// What e2e/run hands the tests, and small helpers they share.
import { createHmac, randomBytes } from 'node:crypto';

function required(name) {
  const v = process.env[name];
  if (!v) {
    throw new Error(`${name} is not set: run the tests through e2e/run`);
  }
  return v;
}

/** The server under test: its GraphQL endpoint and tokens minted by `server token`. */
export const api = {
  url: `${required('E2E_URL')}/query`,
  alice: required('E2E_TOKEN_ALICE'),
  bob: required('E2E_TOKEN_BOB'),
  secret: required('E2E_SECRET'),
};

/** The development-mode server (no BETTER_AUTH_SECRET) and the token its banner printed. */
export const dev = {
  url: required('E2E_DEV_URL'),
  token: required('E2E_DEV_TOKEN'),
};

/**
 * The server in persisted-documents `only` mode (same secret as api, so the
 * same tokens), the directory of manifests it loads and watches, its process
 * id (for SIGHUP) and its log file.
 */
export const pq = {
  url: `${required('E2E_PQ_URL')}/query`,
  dir: required('E2E_PQ_DIR'),
  pid: Number(required('E2E_PQ_PID')),
  log: required('E2E_PQ_LOG'),
};

/** The server binary e2e/run built, for its sub-commands. */
export const serverBin = required('E2E_SERVER_BIN');

export const chromiumPath = required('CHROMIUM_PATH');
export const artifacts = required('E2E_ARTIFACTS');
/** A directory e2e/run removes when it ends, however it ends. */
export const scratch = required('E2E_TMP');

/**
 * A prefix for the titles one test file creates, so its assertions hold on a
 * PostgreSQL database that earlier runs (or the other test files, which run
 * at the same time) have written to.
 */
export function uniqueTag(name) {
  return `e2e-${name}-${randomBytes(4).toString('hex')}`;
}

/** An HS256 token for sub that expired an hour ago, past the server's leeway. */
export function expiredToken(sub) {
  const now = Math.floor(Date.now() / 1000);
  const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const unsigned = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub, iat: now - 7200, exp: now - 3600 })}`;
  const sig = createHmac('sha256', api.secret).update(unsigned).digest('base64url');
  return `${unsigned}.${sig}`;
}
