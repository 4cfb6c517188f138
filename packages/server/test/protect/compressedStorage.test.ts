/** Compressed storage: inbox payloads over the threshold are stored compressed and flagged, read back transparently; old plain entries stay readable; Redis MEMORY USAGE of a 4 KB JSON message at least halves. */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { connect, nodeFactory, publish, startNode } from '../helpers/harness.js';
import { deleteKeys, sharedRedis, testPrefix } from '../helpers/redisServer.js';
import { createPayloadCodec, decodePayload } from '../../src/engine/payloadCodec.js';

/** A realistic 4 KB JSON message: an order with line items (repetitive keys, varied values). */
function order(n: number): unknown {
  const items = [];
  for (let i = 0; items.length < 56; i++) items.push({ sku: `SKU-${n}-${i * 7919 % 10007}`, name: `Item ${i} of order ${n}`, qty: (i % 5) + 1, price: Math.round((i * 37.1) % 100 * 100) / 100, notes: i % 3 ? '' : 'no onions' });
  return { orderId: `ord-${n}`, table: n % 40, createdAt: '2026-12-01T15:00:00Z', items };
}

test('codec: threshold, flag, round trip, plain entries untouched', () => {
  const c = createPayloadCodec({ codec: 'auto', thresholdBytes: 1024 });
  assert.deepEqual(c.encode('{"small":1}'), { data: '{"small":1}' });
  const big = JSON.stringify(order(1));
  assert.ok(Buffer.byteLength(big) >= 4000, `${Buffer.byteLength(big)} bytes`);
  const enc = c.encode(big);
  assert.ok(enc.flag === 'deflate' || enc.flag === 'zstd');
  assert.ok(enc.data.length < big.length / 2);
  assert.equal(decodePayload(enc.data, enc.flag), big);
  assert.equal(decodePayload(big, undefined), big, 'an unflagged entry reads as stored');
  assert.deepEqual(createPayloadCodec({ codec: 'none', thresholdBytes: 64 }).encode(big), { data: big });
});

const node = nodeFactory();
test('memory inbox: a compressed message replays intact', async () => {
  const n = await node({ storageCompressThresholdBytes: 256 });
  const data = order(2);
  assert.equal((await publish(n, { to: { user: 'kim' }, data })).status, 200);
  const c = await connect(n, 'kim');
  const m = await c.waitFor((f) => f.type === 'message', 5000);
  assert.deepEqual(m.data, data);
  c.close();
});

const prefix = testPrefix();
let redis: Redis;
let url: string;
before(async () => {
  const shared = await sharedRedis();
  redis = shared.client;
  url = shared.url;
});
after(async () => {
  await deleteKeys(redis, prefix);
  redis.disconnect();
});

const PER_USER = 40;

/** The one inbox key of `user` under the test's prefix (SCAN: the shared server may be large). */
async function inboxKey(user: string): Promise<string> {
  const found: string[] = [];
  for await (const keys of redis.scanStream({ match: `${prefix}*${user}*:inbox`, count: 1000 })) found.push(...(keys as string[]));
  assert.equal(found.length, 1, `inbox key of ${user}`);
  return found[0]!;
}

async function entryUsage(user: string): Promise<number> {
  const key = await inboxKey(user);
  // Streams preallocate 4 KB listpack nodes: one entry alone would measure the allocation, so
  // the inbox holds PER_USER messages and the cost per message is compared.
  return Number(await redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')) / PER_USER;
}

test('Redis: MEMORY USAGE of a 4 KB JSON message is at least 50% smaller; plain old entries and live delivery stay correct', async () => {
  const plainNode = await startNode({ engine: 'redis', redisUrl: url, redisKeyPrefix: prefix, ingestEnabled: false, storageCompression: 'none' });
  const packedNode = await startNode({ engine: 'redis', redisUrl: url, redisKeyPrefix: prefix, ingestEnabled: false });
  try {
    const data = order(3);
    for (let i = 0; i < PER_USER; i++) {
      assert.equal((await publish(plainNode, { to: { user: 'plain' }, data: i === 0 ? data : order(10 + i) })).status, 200);
      if (i > 0) assert.equal((await publish(packedNode, { to: { user: 'packed' }, data: order(10 + i) })).status, 200);
    }
    // A device on the plain node receives, live, a message the packed node stores compressed:
    // the bus event carries plain data.
    const live = await connect(plainNode, 'packed', { device: 'd1', lastSeq: PER_USER - 1 });
    assert.equal((await publish(packedNode, { to: { user: 'packed' }, data })).status, 200);
    assert.deepEqual((await live.waitFor((f) => f.type === 'message' && f.seq === PER_USER, 5000)).data, data);
    live.close();
    const plain = await entryUsage('plain');
    const packed = await entryUsage('packed');
    assert.ok(packed <= plain / 2, `MEMORY USAGE plain ${plain} B, compressed ${packed} B`);
    const newest = (await redis.xrevrange(await inboxKey('packed'), '+', '-', 'COUNT', 1)) as [string, string[]][];
    assert.ok(newest[0]?.[1].includes('z'), 'the entry is flagged');
    // Replay from Redis: the compressed entry on a node with compression off, the old plain entry on the packed node.
    const a = await connect(plainNode, 'packed', { device: 'd2', lastSeq: PER_USER - 1 });
    assert.deepEqual((await a.waitFor((f) => f.type === 'message', 5000)).data, data);
    const b = await connect(packedNode, 'plain', { device: 'd3' });
    assert.deepEqual((await b.waitFor((f) => f.type === 'message', 5000)).data, data);
    a.close();
    b.close();
    console.log(`MEMORY USAGE per 4 KB JSON message: plain ${Math.round(plain)} B, compressed ${Math.round(packed)} B`);
  } finally {
    await Promise.all([plainNode.close(), packedNode.close()]);
  }
});
