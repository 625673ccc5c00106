// Express fixture app for sealed-session's Express-migration integration tests.
//
// Configured entirely by environment variables (see README.md). Prints exactly
// one line `listening <port>` to stdout once it is both listening and connected
// to Redis; all diagnostics go to stderr.

import { createRequire } from 'node:module';
import express from 'express';
import session from 'express-session';
import { RedisStore } from 'connect-redis';
import { createClient } from 'redis';

const require = createRequire(import.meta.url);

function log(...args) {
  console.error('[express-fixture]', ...args);
}

function fail(msg) {
  log('error:', msg);
  process.exit(2);
}

function requiredEnv(name) {
  const v = process.env[name];
  if (v === undefined || v === '') fail(`${name} is required`);
  return v;
}

const REDIS_URL = requiredEnv('REDIS_URL');
const STORE = requiredEnv('STORE');
if (STORE !== 'connect-redis' && STORE !== 'connect-redis-crypto') {
  fail(`STORE must be "connect-redis" or "connect-redis-crypto", got ${JSON.stringify(STORE)}`);
}

let SECRETS;
try {
  SECRETS = JSON.parse(requiredEnv('SECRETS'));
} catch (e) {
  fail(`SECRETS is not valid JSON: ${e.message}`);
}
if (!Array.isArray(SECRETS) || SECRETS.length === 0 || !SECRETS.every((s) => typeof s === 'string' && s !== '')) {
  fail('SECRETS must be a non-empty JSON array of non-empty strings');
}

const CRYPTO_SECRET = process.env.CRYPTO_SECRET;
if (STORE === 'connect-redis-crypto' && !CRYPTO_SECRET) {
  fail('CRYPTO_SECRET is required when STORE=connect-redis-crypto');
}

const PREFIX = process.env.PREFIX ?? 'sess:';
const COOKIE_NAME = process.env.COOKIE_NAME || 'connect.sid';

let maxAge;
const rawMaxAge = process.env.MAX_AGE_MS;
if (rawMaxAge === undefined || rawMaxAge === '') {
  maxAge = 3600000;
} else if (rawMaxAge === 'session') {
  maxAge = undefined; // browser-session cookie; cookie.expires stays null
} else {
  maxAge = Number(rawMaxAge);
  if (!Number.isInteger(maxAge) || maxAge <= 0) {
    fail(`MAX_AGE_MS must be a positive integer or "session", got ${JSON.stringify(rawMaxAge)}`);
  }
}

// ---------------------------------------------------------------------------
// Redis client + store
// ---------------------------------------------------------------------------

let store;
let closeRedis;

if (STORE === 'connect-redis') {
  // node-redis 6 (promise API), as required by connect-redis 11.
  // Fail fast if Redis is unreachable at startup; retry later disconnects.
  let connected = false;
  const client = createClient({
    url: REDIS_URL,
    socket: {
      reconnectStrategy: (retries, cause) => (connected ? Math.min(retries * 50, 1000) : cause),
    },
  });
  client.on('error', (err) => log('redis error:', err.message));
  try {
    await client.connect();
  } catch (err) {
    fail(`cannot connect to redis at ${REDIS_URL}: ${err.message}`);
  }
  connected = true;
  store = new RedisStore({ client, prefix: PREFIX });
  closeRedis = async () => {
    await client.close();
  };
} else {
  // connect-redis-crypto 4 expects a callback-style node-redis 3 client,
  // installed under the npm alias "redis3".
  const redis3 = require('redis3');
  const connectRedisCrypto = require('connect-redis-crypto');
  const CryptoRedisStore = connectRedisCrypto(session);
  const client = redis3.createClient({ url: REDIS_URL });
  client.on('error', (err) => log('redis error:', err.message));
  // Fail fast if Redis is unreachable at startup.
  await new Promise((resolve, reject) => {
    const onReady = () => {
      client.removeListener('error', onError);
      resolve();
    };
    const onError = (err) => {
      client.removeListener('ready', onReady);
      reject(err);
    };
    client.once('ready', onReady);
    client.once('error', onError);
  }).catch((err) => fail(`cannot connect to redis at ${REDIS_URL}: ${err.message}`));
  // `secret` enables kruptein encryption with its defaults
  // (aes-256-gcm, pbkdf2/sha512, binary/latin1 encoding).
  store = new CryptoRedisStore({ client, prefix: PREFIX, secret: CRYPTO_SECRET });
  closeRedis = () =>
    new Promise((resolve) => {
      client.quit(() => resolve());
    });
}

// ---------------------------------------------------------------------------
// App
// ---------------------------------------------------------------------------

const cookie = { httpOnly: true, path: '/', sameSite: 'lax' };
if (maxAge !== undefined) cookie.maxAge = maxAge;

const app = express();
app.disable('x-powered-by');
app.use(
  session({
    name: COOKIE_NAME,
    secret: SECRETS,
    store,
    resave: false,
    saveUninitialized: false,
    cookie,
  }),
);

function loggedIn(req) {
  return req.session && typeof req.session.name === 'string';
}

function requireLogin(req, res, next) {
  if (!loggedIn(req)) {
    res.status(401).json({ error: 'not logged in' });
    return;
  }
  next();
}

app.post('/login', (req, res, next) => {
  const name = typeof req.query.name === 'string' ? req.query.name : '';
  if (name === '') {
    res.status(400).json({ error: 'missing name' });
    return;
  }
  req.session.regenerate((err) => {
    if (err) return next(err);
    req.session.name = name;
    req.session.counter = 1;
    req.session.profile = {
      langs: ['rust', 'js'],
      address: { city: 'Zürich', zip: 8001 },
      admin: false,
      score: 1.5,
      tags: [],
    };
    req.session.greeting = 'Grüße, 世界 🦀 "quoted" \\ back\nslash';
    req.session.save((err2) => {
      if (err2) return next(err2);
      res.json({ ok: true });
    });
  });
});

app.post('/count', requireLogin, (req, res) => {
  req.session.counter = (Number(req.session.counter) || 0) + 1;
  res.json({ counter: req.session.counter });
});

app.get('/whoami', requireLogin, (req, res) => {
  res.json(req.session);
});

app.get('/record', requireLogin, (req, res) => {
  res.json({ sid: req.sessionID });
});

app.post('/logout', (req, res, next) => {
  req.session.destroy((err) => {
    if (err) return next(err);
    res.json({ ok: true });
  });
});

app.use((req, res) => {
  res.status(404).json({ error: 'not found' });
});

// eslint-disable-next-line no-unused-vars
app.use((err, req, res, next) => {
  log('request error:', err && err.stack ? err.stack : err);
  res.status(500).json({ error: String(err && err.message ? err.message : err) });
});

// ---------------------------------------------------------------------------
// Start / stop
// ---------------------------------------------------------------------------

const server = app.listen(0, '127.0.0.1', (err) => {
  if (err) fail(`listen failed: ${err.message}`);
  const { port } = server.address();
  log(`store=${STORE} prefix=${JSON.stringify(PREFIX)} cookie=${COOKIE_NAME} maxAge=${maxAge ?? 'session'}`);
  process.stdout.write(`listening ${port}\n`);
});

let shuttingDown = false;
async function shutdown(signal) {
  if (shuttingDown) return;
  shuttingDown = true;
  log(`received ${signal}, shutting down`);
  server.close();
  server.closeAllConnections?.();
  try {
    await closeRedis();
  } catch (e) {
    log('error closing redis:', e.message);
  }
  process.exit(0);
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
