// A real Better Auth for the end-to-end suite: the JWT plugin on its
// defaults (EdDSA keys, JWKS at /api/auth/jwks, iss and aud = baseURL,
// 15-minute tokens), email and password sign-in, the memory adapter (every
// user and key is gone when the process ends).
//
// Environment:
//   PORT                       port to listen on, on 127.0.0.1 (0: any free port)
//   BETTER_AUTH_SECRET         required; encrypts the private keys and signs cookies
//   JWKS_ROTATION_INTERVAL     optional, seconds: jwks.rotationInterval (off by default)
//   JWKS_GRACE_PERIOD          optional, seconds: jwks.gracePeriod (30 days by default)
//   BASE_URL_TRAILING_SLASH=1  configure baseURL with a trailing slash (to see what iss/aud become)
//   API_SECRET                 optional: also serve GET /api/token, the README's route for the
//                              API's shared-secret mode, signing HS256 tokens with this secret
//
// baseURL is http://127.0.0.1:<port>, the port actually bound; once
// listening it prints one line, "better-auth listening on <baseURL>".
import { createServer } from 'node:http';

import { betterAuth } from 'better-auth';
import { memoryAdapter } from 'better-auth/adapters/memory';
import { toNodeHandler } from 'better-auth/node';
import { jwt } from 'better-auth/plugins/jwt';
import { SignJWT } from 'jose';

const secret = process.env.BETTER_AUTH_SECRET;
if (!secret) {
  console.error('better-auth: BETTER_AUTH_SECRET is not set');
  process.exit(2);
}

function seconds(name) {
  const v = process.env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) {
    console.error(`better-auth: ${name}=${v} is not a positive number of seconds`);
    process.exit(2);
  }
  return n;
}
const jwks = {};
const rotationInterval = seconds('JWKS_ROTATION_INTERVAL');
const gracePeriod = seconds('JWKS_GRACE_PERIOD');
if (rotationInterval !== undefined) jwks.rotationInterval = rotationInterval;
if (gracePeriod !== undefined) jwks.gracePeriod = gracePeriod;

// The handler is set once the port is known: baseURL must name it.
let handle = (_req, res) => {
  res.statusCode = 503;
  res.end();
};
const server = createServer((req, res) => handle(req, res));

server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const baseURL = `http://127.0.0.1:${server.address().port}`;
  const auth = betterAuth({
    baseURL: process.env.BASE_URL_TRAILING_SLASH === '1' ? `${baseURL}/` : baseURL,
    secret,
    database: memoryAdapter({ user: [], session: [], account: [], verification: [], jwks: [] }),
    emailAndPassword: { enabled: true },
    plugins: [jwt(Object.keys(jwks).length ? { jwks } : undefined)],
    // The suite signs up users in bursts from one address.
    rateLimit: { enabled: false },
    telemetry: { enabled: false },
  });
  const betterAuthHandler = toNodeHandler(auth);
  const apiSecret = process.env.API_SECRET;
  handle = apiSecret
    ? (req, res) => (req.url === '/api/token' ? readmeTokenRoute(auth, apiSecret, req, res) : betterAuthHandler(req, res))
    : betterAuthHandler;
  console.log(`better-auth listening on ${baseURL}`);
});

// readmeTokenRoute is the README's shared-secret route, as written there:
// read the Better Auth session, sign an HS256 token for its user.
async function readmeTokenRoute(auth, apiSecret, req, res) {
  const secret = new TextEncoder().encode(apiSecret); // the same string as the API's
  const session = await auth.api.getSession({ headers: new Headers(req.headers) });
  if (!session) {
    res.statusCode = 401;
    res.end();
    return;
  }
  const token = await new SignJWT({})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(session.user.id)
    .setIssuedAt()
    .setExpirationTime('15m')
    .sign(secret);
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ token }));
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    server.close();
    server.closeAllConnections();
    process.exit(0);
  });
}
