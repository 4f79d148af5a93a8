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

/**
 * Instances for the cross-instance subscription tests, on the database of
 * the server under test: a second one beside it (events over PostgreSQL
 * LISTEN/NOTIFY) and a pair with REDIS_URL set (events over Redis, whose
 * URL is redis). e2e/run starts them only with E2E_DATABASE_URL; required
 * says it did (E2E_SUBSCRIPTIONS_CROSS=1), so their absence is a failure.
 */
export const instances = {
  url2: process.env.E2E_URL2,
  redis1: process.env.E2E_REDIS_URL1,
  redis2: process.env.E2E_REDIS_URL2,
  redis: process.env.E2E_REDIS,
  required: process.env.E2E_SUBSCRIPTIONS_CROSS === '1',
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

/** An HS256 token for sub with the server's secret, valid from iat to exp (Unix seconds). */
function sign(sub, iat, exp) {
  const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const unsigned = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub, iat, exp })}`;
  const sig = createHmac('sha256', api.secret).update(unsigned).digest('base64url');
  return `${unsigned}.${sig}`;
}

/** An HS256 token for sub that expired an hour ago, past the server's leeway. */
export function expiredToken(sub) {
  const now = Math.floor(Date.now() / 1000);
  return sign(sub, now - 7200, now - 3600);
}

/**
 * A token for sub valid for an hour, as `server token` makes: for tests
 * that need users of their own, whose events no other test causes.
 */
export function tokenFor(sub) {
  const now = Math.floor(Date.now() / 1000);
  return sign(sub, now, now + 3600);
}
