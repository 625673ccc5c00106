// connect-redis-crypto 4.0.5 (express-session store, encryption by kruptein) doing the same
// save+load pairs as bench/peers: per task one session id, saved once, then load + save in a
// loop; the same 1 KiB session content (../peers/session.json).
//
// Run through ./run.sh (installs the npm packages). Environment: REDIS_URL (required),
// LEVELS (default "1,16,64"), ROUNDS (default 5), ROUND_MS (default 1500).
// Prints one JSON line per concurrency level: {"tasks", "pairs_per_s", "p50_us", "p99_us"}.
'use strict';

const { promisify } = require('util');
const session = require('express-session');
const redis = require('redis');
const RedisStore = require('connect-redis-crypto')(session);
const content = require('../peers/session.json');

const url = process.env.REDIS_URL;
if (!url) {
  console.error('REDIS_URL is required');
  process.exit(2);
}
const levels = (process.env.LEVELS || '1,16,64').split(',').map(Number);
const rounds = Number(process.env.ROUNDS || 5);
const roundMs = Number(process.env.ROUND_MS || 1500);

// A random per-run secret, as an application would keep in its configuration.
const secret = require('crypto').randomBytes(32).toString('base64');
const client = redis.createClient({ url });
const store = new RedisStore({ client, secret, ttl: 86400, prefix: 'node:' });
const set = promisify(store.set.bind(store));
const get = promisify(store.get.bind(store));

function sessionObject() {
  return {
    cookie: { originalMaxAge: 86400000, httpOnly: true, path: '/', sameSite: 'strict' },
    ...content,
  };
}

async function round(tasks) {
  const stop = Date.now() + roundMs;
  const latencies = [];
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: tasks }, async (_, t) => {
      const sid = `bench-${t}`;
      while (Date.now() < stop) {
        const s = process.hrtime.bigint();
        const loaded = await get(sid);
        if (!loaded || loaded.user_id === undefined) throw new Error('session lost');
        loaded.user_id += 1;
        await set(sid, loaded);
        latencies.push(Number(process.hrtime.bigint() - s) / 1000);
      }
    }),
  );
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  latencies.sort((a, b) => a - b);
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))];
  return { rate: latencies.length / elapsed, p50: pct(0.5), p99: pct(0.99) };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

(async () => {
  // One round trip first: fails loudly if the store cannot seal and open at all.
  await set('bench-check', sessionObject());
  const back = await get('bench-check');
  if (!back || back.user_id !== content.user_id) throw new Error('round trip failed');
  for (const tasks of levels) {
    for (let t = 0; t < tasks; t++) await set(`bench-${t}`, sessionObject());
    const results = [];
    for (let r = 0; r < rounds; r++) results.push(await round(tasks));
    console.log(JSON.stringify({
      tasks,
      pairs_per_s: median(results.map((x) => x.rate)),
      p50_us: Math.round(median(results.map((x) => x.p50))),
      p99_us: Math.round(median(results.map((x) => x.p99))),
    }));
  }
  client.quit();
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
