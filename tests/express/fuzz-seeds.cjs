// Writes the Node-made seeds of the Express fuzz targets (fuzz/README.md):
//   express_cookie               cookies as express-session sets them (cookie-signature,
//                                encodeURIComponent), with the secret "keyboard cat";
//   connect_redis_record         JSON.stringify of express-session sessions (connect-redis);
//   connect_redis_crypto_record  the same sealed by kruptein 2.x with connect-redis-crypto's
//                                defaults, under "correct horse battery staple" (the secret
//                                the target decodes with), through its JSON round trip.
// Run from the repository root after `npm ci` in tests/express:
//   node tests/express/fuzz-seeds.cjs
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const signature = require('cookie-signature');
const { Cookie } = require('express-session');
const kruptein = require('kruptein')({});

const root = path.join(__dirname, '..', '..', 'fuzz', 'corpus');
function write(target, name, text) {
  const dir = path.join(root, target);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, name), text);
}

function session(maxAge, data) {
  const cookie = new Cookie({ httpOnly: true, path: '/', sameSite: 'lax' });
  if (maxAge !== null) cookie.maxAge = maxAge;
  return Object.assign({ cookie }, data);
}

const sessions = {
  'login': session(3600000, {
    name: 'alice',
    counter: 3,
    profile: { langs: ['rust', 'js'], address: { city: 'Zürich', zip: 8001 }, admin: false, score: 1.5, tags: [] },
    greeting: 'Grüße, 世界 🦀 "quoted" \\ back\nslash',
  }),
  'browser-session': session(null, { user: 'bob' }),
  'empty': session(60000, {}),
  'nested': session(86400000, { a: { b: { c: [1, [2, [3, { d: null }]]] } }, big: 9007199254740991, neg: -0.5 }),
  'control': session(1000, { s: '\u0000\u0001\u001f\u007f\u0080\u00ff' }),
};

for (const [name, sess] of Object.entries(sessions)) {
  write('connect_redis_record', `node-${name}`, JSON.stringify(sess));
  kruptein.set('correct horse battery staple', sess, (err, ct) => {
    if (err) throw new Error(err);
    write('connect_redis_crypto_record', `node-${name}`, JSON.stringify(JSON.parse(ct)));
  });
}

const sids = ['gR3vKx1yrWk9p0QnLmZ-aBcDeFgHiJ_k', 'a', 'custom.id.with.dots', 'ünïcode-id', 'x'.repeat(256)];
sids.forEach((sid, i) => {
  const value = encodeURIComponent('s:' + signature.sign(sid, 'keyboard cat'));
  write('express_cookie', `node-${i}`, value);
});
