import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSecretKey } from 'node:crypto';
import { jwtVerify } from 'jose';
import { mintToken, signHs256, signJws, verifyHs256 } from '../src/index.js';

const SECRET = 'testkit-secret-0123456789abcdef';
const key = createSecretKey(Buffer.from(SECRET));
const now = Math.floor(Date.now() / 1000);

test('signHs256 writes a token jose accepts, and verifyHs256 reads it back', async () => {
  const t = signHs256({ sub: 'u1', tid: 't1', exp: now + 60 }, SECRET);
  const { payload, protectedHeader } = await jwtVerify(t, key, { algorithms: ['HS256'] });
  assert.equal(protectedHeader.alg, 'HS256');
  assert.equal(payload.sub, 'u1');
  assert.deepEqual(verifyHs256(t, SECRET), { sub: 'u1', tid: 't1', exp: now + 60 });
});

test('verifyHs256 refuses a wrong secret, a tampered payload, an expired token and another alg', () => {
  const t = signHs256({ sub: 'u1', exp: now + 60 }, SECRET);
  assert.equal(verifyHs256(t, 'another-secret-entirely'), null);
  const [h, , s] = t.split('.');
  assert.equal(verifyHs256(`${h}.${Buffer.from(JSON.stringify({ sub: 'admin', exp: now + 60 })).toString('base64url')}.${s}`, SECRET), null);
  assert.equal(verifyHs256(signHs256({ sub: 'u1', exp: now - 1 }, SECRET), SECRET), null);
  assert.equal(verifyHs256(signJws({ alg: 'HS512' }, { sub: 'u1', exp: now + 60 }, SECRET), SECRET), null);
  assert.equal(verifyHs256('not.a-token', SECRET), null);
});

test('mintToken writes the device claims, expired tokens and unsigned ones on request', async () => {
  const t = mintToken(SECRET, { sub: 'u1', tid: 't1', did: 'd1', rooms: ['r'], ttlSec: 60 });
  const { payload } = await jwtVerify(t, key, { algorithms: ['HS256'] });
  assert.equal(payload.tid, 't1');
  assert.equal(payload.did, 'd1');
  assert.deepEqual(payload.rooms, ['r']);
  assert.equal(payload.exp, (payload.iat as number) + 60);
  await assert.rejects(jwtVerify(mintToken(SECRET, { sub: 'u1', ttlSec: -60 }), key, { algorithms: ['HS256'] }));
  const none = mintToken(SECRET, { sub: 'u1', ttlSec: 60 }, 'none');
  assert.ok(none.endsWith('.'));
  assert.equal(JSON.parse(Buffer.from(none.split('.')[0]!, 'base64url').toString()).alg, 'none');
});

test('signJws signs any header and payload with the named HMAC hash (strings are encoded as they are)', async () => {
  const t = signJws({ alg: 'HS512' }, { sub: 'a', exp: now + 60 }, SECRET, 'sha512');
  await jwtVerify(t, key, { algorithms: ['HS512'] });
  assert.equal(signJws({ alg: 'HS256' }, 'nope', SECRET).split('.')[1], Buffer.from('nope').toString('base64url'));
});
