/** Redis URL forms, key escaping and Cluster slots (pure functions, no server). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isRedisUrl, parseRedisUrl } from '../../src/redis/url.js';
import { esc, RedisKeys } from '../../src/engine/redis/keys.js';
import { clusterSlot } from '../../src/engine/redis/slot.js';

test('standalone URLs pass through; display never shows the password', () => {
  const p = parseRedisUrl('redis://user:s3cret@cache.local:6380/2');
  assert.equal(p.mode, 'standalone');
  assert.equal(p.display, 'redis://cache.local:6380/2');
  assert.equal(parseRedisUrl('rediss://h').tls, true);
});

test('sentinel URLs: hosts, master name, db, credentials', () => {
  const p = parseRedisUrl('redis+sentinel://u:p%40ss@s1:26379,s2,[::1]:26380/mymaster/3?sentinelPassword=sp');
  assert.deepEqual(p, {
    mode: 'sentinel',
    sentinels: [{ host: 's1', port: 26379 }, { host: 's2', port: 26379 }, { host: '::1', port: 26380 }],
    name: 'mymaster',
    db: 3,
    tls: false,
    display: 'redis+sentinel://s1:26379,s2:26379,::1:26380/mymaster',
    username: 'u',
    password: 'p@ss',
    sentinelPassword: 'sp',
  });
  assert.throws(() => parseRedisUrl('redis+sentinel://s1:26379'), /master name/);
});

test('cluster URLs: seed nodes, no path', () => {
  const p = parseRedisUrl('rediss+cluster://:pw@n1:7000,n2:7001');
  assert.deepEqual(p, { mode: 'cluster', nodes: [{ host: 'n1', port: 7000 }, { host: 'n2', port: 7001 }], tls: true, display: 'rediss+cluster://n1:7000,n2:7001', password: 'pw' });
  assert.throws(() => parseRedisUrl('redis+cluster://n1:7000/0'), /no path/);
});

test('bad URLs are refused', () => {
  for (const u of ['http://h:1', 'not a url', 'redis+cluster://h:99999', 'redis+foo://h']) assert.equal(isRedisUrl(u), false, u);
  assert.equal(isRedisUrl('redis://127.0.0.1:6379'), true);
});

test('key escaping keeps every user in one hash tag', () => {
  assert.equal(esc('plain-id_1.x'), 'plain-id_1.x');
  assert.equal(esc('a:b{c}d%'), 'a%3Ab%7Bc%7Dd%25');
  const k = new RedisKeys('herald:');
  const tag = k.userTag('t}', '{u');
  for (const key of [k.userMeta('t}', '{u'), k.userInbox('t}', '{u'), k.userCursors('t}', '{u'), k.userPresence('t}', '{u'), k.userChannel('t}', '{u')]) {
    assert.ok(key.includes(tag));
    assert.equal(clusterSlot(key), clusterSlot(tag));
  }
  assert.throws(() => new RedisKeys('{x}:'), /must not contain/);
});

test('cluster slots match Redis (CRC16/XMODEM mod 16384)', () => {
  // Reference values from `CLUSTER KEYSLOT`.
  assert.equal(clusterSlot('foo'), 12182);
  assert.equal(clusterSlot('a{user1}b'), clusterSlot('user1'));
  assert.equal(clusterSlot('123456789'), 0x31c3 % 16384);
});
