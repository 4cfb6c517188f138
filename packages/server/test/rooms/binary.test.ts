/**
 * Binary payloads (DESIGN.md §8): `data_b64` in API publishes, batch items and
 * client room publishes; v1 delivers `data_b64`, v2 raw bytes (frame type
 * MessageBytes: payload kind `bytes`). Bytes round-trip exactly — ephemeral,
 * reliable (both engines) and across nodes; size limits count decoded bytes;
 * bad base64 gets its exact error.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { BinaryFrameType } from '@herald/protocol';
import type { HeraldNode } from '../../src/node.js';
import type { RedisEngine } from '../../src/engine/redis/redisEngine.js';
import { api, connect, nodeFactory, publish, type Frame, type TestClient } from '../helpers/harness.js';
import { useSharedRedis } from '../helpers/redisServer.js';
import { connectV2, type V2Client } from '../protocol/v2Client.js';

const node = nodeFactory();
const clients: (TestClient | V2Client)[] = [];
const redis = useSharedRedis();
const prefix = redis.prefix;
after(() => {
  for (const c of clients) c.close();
});

const bytesOfV2 = (c: V2Client, i: number): Buffer => {
  const raw = c.raw[i]!;
  const d = c.decoded[i]!;
  assert.equal(d.type, BinaryFrameType.MessageBytes);
  const metaLen = raw.readUInt32BE(16);
  return raw.subarray(16 + 4 + metaLen);
};

for (const kind of ['memory', 'redis'] as const) {
  describe(`binary payloads (${kind})`, () => {
    let A: HeraldNode;
    let B: HeraldNode;
    before(async () => {
      const cfg = kind === 'redis' ? { engine: 'redis' as const, redisUrl: redis.url, redisKeyPrefix: prefix, roomHistorySize: 10 } : { roomHistorySize: 10, binaryCompression: ['none' as const] };
      A = await node({ ...cfg, nodeId: `${kind}-ba`, binaryCompression: ['none'] });
      B = kind === 'redis' ? await node({ ...cfg, nodeId: `${kind}-bb`, binaryCompression: ['none'] }) : A;
    });

    test('bytes round-trip exactly on v1 (data_b64) and v2 (raw bytes): API reliable, API room, client room publish', async () => {
      const bytes = randomBytes(300);
      bytes[0] = 0;
      bytes[1] = 0xff;
      const b64 = bytes.toString('base64');
      const v1 = await connect(A, 'bin1', { device: 'v1' });
      const v2 = await connectV2(B, 'bin1', { device: 'v2' });
      clients.push(v1, v2);
      if (kind === 'redis') await Promise.all([A, B].map((n) => (n.engine as RedisEngine).subscriptionsFlushed()));
      assert.equal((await publish(A, { to: { user: 'bin1' }, data_b64: b64 })).status, 200);
      const m1 = await v1.waitFor((f) => f.type === 'message');
      assert.equal(m1.data_b64, b64);
      assert.equal(m1.data, undefined);
      assert.equal(typeof m1.seq, 'number');
      const m2 = await v2.waitFor((f) => f.type === 'message');
      assert.equal(m2.seq, m1.seq);
      assert.deepEqual(bytesOfV2(v2, v2.frames.indexOf(m2)), bytes);

      // Room: API publish and a v2 client's raw-bytes publish, both with history (offsets) on.
      const room = `bin-${kind}`;
      assert.equal((await v1.request({ type: 'join', room })).type, 'reply');
      assert.equal((await v2.request({ type: 'join', room })).type, 'reply');
      if (kind === 'redis') await Promise.all([A, B].map((n) => (n.engine as RedisEngine).subscriptionsFlushed()));
      assert.equal((await publish(B, { to: { room }, data_b64: b64 })).status, 200);
      const other = randomBytes(70);
      const r = await v2.request({ type: 'publish', room, data_b64: other.toString('base64') }); // sent as a PublishBytes frame
      assert.equal(r.type, 'reply');
      await v1.waitForCount((f) => f.type === 'message' && f.room === room, 2);
      const got1 = v1.messages().filter((f) => f.room === room);
      assert.deepEqual(got1.map((f) => f.data_b64), [b64, other.toString('base64')]);
      assert.deepEqual(got1.map((f) => f.offset), [1, 2]);
      await v2.waitForCount((f) => f.type === 'message' && f.room === room, 2);
      const idx = v2.frames.map((f, i) => [f, i] as const).filter(([f]) => f.type === 'message' && f.room === room).map(([, i]) => i);
      assert.deepEqual(bytesOfV2(v2, idx[0]!), bytes);
      assert.deepEqual(bytesOfV2(v2, idx[1]!), other);
      // History keeps them as data_b64.
      const h = await api(A, 'GET', `/api/v1/rooms/${room}/history`);
      assert.deepEqual((h.body.messages as Frame[]).map((m) => m.data_b64), [b64, other.toString('base64')]);
    });

    test('v1 client room publish with data_b64; unpadded input is delivered canonical', async () => {
      const room = `bin2-${kind}`;
      const a = await connect(A, 'bin2');
      clients.push(a);
      await a.request({ type: 'join', room });
      await a.request({ type: 'publish', room, data_b64: 'AQI' });
      const m = await a.waitFor((f) => f.type === 'message' && f.room === room);
      assert.equal(m.data_b64, 'AQI=');
    });
  });
}

describe('binary payloads: bad input', () => {
  test('bad base64, both fields, none, over the limit (decoded bytes): exact errors', async () => {
    const n = await node({ maxMessageBytes: 100 });
    for (const [body, field, re] of [
      [{ to: { user: 'u' }, data_b64: 'not base64!' }, 'data_b64', /standard base64/],
      [{ to: { user: 'u' }, data_b64: 'QUJD\n' }, 'data_b64', /standard base64/],
      [{ to: { user: 'u' }, data_b64: 'A' }, 'data_b64', /standard base64/],
      [{ to: { user: 'u' }, data_b64: 'QUJD', data: 1 }, 'data_b64', /not both/],
      [{ to: { user: 'u' } }, 'data', /required/],
    ] as const) {
      const r = await publish(n, body);
      assert.equal(r.status, 400, JSON.stringify(body));
      const e = r.body.error as { field: string; message: string };
      assert.equal(e.field, field);
      assert.match(e.message, re);
    }
    // 100 decoded bytes pass (136 base64 characters), 101 do not.
    assert.equal((await publish(n, { to: { user: 'u' }, data_b64: randomBytes(100).toString('base64') })).status, 200);
    const big = await publish(n, { to: { user: 'u' }, data_b64: randomBytes(101).toString('base64') });
    assert.equal(big.status, 413);
    assert.equal((big.body.error as { field: string }).field, 'data_b64');
    const batch = await api(n, 'POST', '/api/v1/publish/batch', { messages: [{ to: { user: 'u' }, data_b64: '%%%' }] });
    assert.match(JSON.stringify(batch.body), /messages\.0\.data_b64/);

    const c = await connect(n, 'bad');
    clients.push(c);
    await c.request({ type: 'join', room: 'r' });
    const e1 = await c.request({ type: 'publish', room: 'r', data_b64: '!!' });
    assert.equal(e1.code, 'bad_field');
    assert.match(e1.message as string, /data_b64/);
    const e2 = await c.request({ type: 'publish', room: 'r', data_b64: 'QUJD', data: 1 });
    assert.equal(e2.code, 'bad_field');
    const e3 = await c.request({ type: 'publish', room: 'r', data_b64: randomBytes(101).toString('base64') });
    assert.equal(e3.code, 'bad_field');
    assert.match(e3.message as string, /at most 100 bytes/);
    assert.equal((await c.request({ type: 'publish', room: 'r', data_b64: randomBytes(100).toString('base64') })).type, 'reply');
  });
});
