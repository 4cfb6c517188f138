/**
 * Issue 20, a connect's Redis commands through the gateway (single Redis): the reads in one script
 * (CONNECT_READS); once admitted, the presence record, the index entry, the `replace` event, the
 * new device's cursor and the first replay read in one more (CONNECT_START) — with the cursor
 * written at once, as its own script, only when the connect first waits for its user's new
 * subscription. The replay is complete and in order either way.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Redis } from 'ioredis';
import type { HeraldNode } from '../../src/node.js';
import type { RedisEngine } from '../../src/engine/redis/redisEngine.js';
import { open, publish, startNode, token, type TestClient } from '../helpers/harness.js';
import { recordCommandNames } from '../helpers/commandLog.js';
import { deleteKeys, sharedRedis, testPrefix } from '../helpers/redisServer.js';

const prefix = testPrefix();
let admin: Redis;
let node: HeraldNode;
const clients: TestClient[] = [];

before(async () => {
  const r = await sharedRedis();
  admin = r.client;
  node = await startNode({ engine: 'redis', redisUrl: r.url, redisKeyPrefix: prefix, nodeId: 'crc-a' });
});

after(async () => {
  for (const c of clients) c.close();
  await node.close();
  await deleteKeys(admin, prefix);
  admin.disconnect();
});

const scripts = (sent: string[]): number => sent.filter((n) => n === 'evalsha' || n === 'eval').length;

test('a connect: 3 scripts when it waits for its user\'s subscription, 2 when not; the replay whole and in order', async () => {
  for (const k of [1, 2]) assert.equal((await publish(node, { to: { user: 'crc-u' }, data: { k } })).status, 200);
  const engine = node.engine as RedisEngine;
  await engine.subscriptionsFlushed();
  const sent = recordCommandNames((engine as unknown as { cmd: Redis }).cmd);

  // The user's first connection on the node: its channel is new, the connect waits for it.
  const d1 = open(node, { token: await token('crc-u'), device: 'd1' });
  clients.push(d1);
  d1.autoAck = false; // acks are commands of their own (cursor writes): not counted here
  await d1.waitFor((f) => f.type === 'welcome', 5000, 'welcome on d1');
  await d1.waitForCount((f) => f.type === 'message', 2, 5000, 'replay on d1');
  assert.deepEqual(d1.seqs(), [1, 2]);
  assert.equal(scripts(sent), 3, `CONNECT_READS, SET_CURSOR, CONNECT_START (${sent.join(', ')})`);

  // A second device of the user on the same node (from 0 by last_seq): nothing to wait for.
  sent.length = 0;
  // Acks off before the welcome: without a wait, the replay follows the welcome at once.
  const d2 = open(node, { token: await token('crc-u'), device: 'd2', last_seq: '0' });
  clients.push(d2);
  d2.autoAck = false;
  await d2.waitFor((f) => f.type === 'welcome', 5000, 'welcome on d2');
  await d2.waitForCount((f) => f.type === 'message', 2, 5000, 'replay on d2');
  assert.deepEqual(d2.seqs(), [1, 2]);
  assert.equal(scripts(sent), 2, `CONNECT_READS, CONNECT_START (${sent.join(', ')})`);
  assert.equal(await engine.getCursor('default', 'crc-u', 'd2'), 0, "the new device's cursor was written with it");

  // Live after replay, on both.
  assert.equal((await publish(node, { to: { user: 'crc-u' }, data: { k: 3 } })).status, 200);
  await d1.waitFor((f) => f.type === 'message' && f.seq === 3, 5000, 'live on d1');
  await d2.waitFor((f) => f.type === 'message' && f.seq === 3, 5000, 'live on d2');
});

test('a reconnect with last_seq: no cursor write when the stored one is not behind it (2 scripts, though it waits); moved forward with the rest when it is', async () => {
  const engine = node.engine as RedisEngine;
  for (const c of clients.splice(0)) c.close();
  await waitUntilGone(engine);
  await engine.subscriptionsFlushed();
  const sent = recordCommandNames((engine as unknown as { cmd: Redis }).cmd);
  // d1's stored cursor is 0 (written at its first connect; it never acked): last_seq 0 leaves it.
  const d1 = open(node, { token: await token('crc-u'), device: 'd1', last_seq: '0' });
  clients.push(d1);
  d1.autoAck = false;
  await d1.waitForCount((f) => f.type === 'message', 3, 5000, 'replay on d1');
  assert.deepEqual(d1.seqs(), [1, 2, 3]);
  assert.equal(scripts(sent), 2, `CONNECT_READS, CONNECT_START (${sent.join(', ')})`);
  assert.equal(await engine.getCursor('default', 'crc-u', 'd1'), 0);
  // d2 (stored 0) comes back with last_seq 3: its position is stored, in CONNECT_START (no wait).
  sent.length = 0;
  const d2 = open(node, { token: await token('crc-u'), device: 'd2', last_seq: '3' });
  clients.push(d2);
  await d2.waitFor((f) => f.type === 'welcome' && f.last_seq === 3, 5000, 'welcome on d2');
  await waitUntilScripts(sent, 2);
  assert.equal(await engine.getCursor('default', 'crc-u', 'd2'), 3);
});

async function waitUntilGone(engine: RedisEngine): Promise<void> {
  for (let i = 0; i < 100 && (await engine.userPresence('default', 'crc-u')).length > 0; i++) await new Promise((r) => setTimeout(r, 50));
}

async function waitUntilScripts(sent: string[], n: number): Promise<void> {
  for (let i = 0; i < 100 && scripts(sent) < n; i++) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(scripts(sent), n, `CONNECT_READS, CONNECT_START (${sent.join(', ')})`);
}
