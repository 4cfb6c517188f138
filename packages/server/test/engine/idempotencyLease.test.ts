/**
 * Issue 13 item 8: a pending idempotency claim is a short lease, renewed
 * while the publish runs. A node that dies between claim and store no longer
 * blocks retries (409) for the whole idempotencyTtlSec.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { HeraldNode } from '../../src/node.js';
import type { Engine } from '../../src/engine/types.js';
import type { RedisEngine } from '../../src/engine/redis/redisEngine.js';
import { nodeFactory, publish } from '../helpers/harness.js';
import { useSharedRedis } from '../helpers/redisServer.js';

const node = nodeFactory();
const redis = useSharedRedis();
const prefix = redis.prefix;

const redisNode = (extra: Record<string, unknown> = {}) =>
  node({ engine: 'redis', redisUrl: redis.url, redisKeyPrefix: prefix, idempotencyTtlSec: 120, ...extra });

/** Holds the node's next inbox append until `release` is called (the publish is "between claim and store"). */
function holdAppend(n: HeraldNode): { reached: Promise<void>; release: (ok: boolean) => void } {
  const engine = n.engine as Engine & { append: Engine['append'] };
  const original = engine.append.bind(engine);
  let release!: (ok: boolean) => void;
  let reached!: () => void;
  const reachedP = new Promise<void>((r) => (reached = r));
  const gate = new Promise<boolean>((r) => (release = r));
  engine.append = async (...args) => {
    engine.append = original;
    reached();
    if (!(await gate)) throw new Error('node died');
    return original(...args);
  };
  return { reached: reachedP, release };
}

test('a claim whose node died frees itself after the lease: a retry on another node stores it (Redis)', async () => {
  const a = await redisNode({ nodeId: 'lease-a', idempotencyLeaseMs: 400 });
  const b = await redisNode({ nodeId: 'lease-b', idempotencyLeaseMs: 400 });
  const body = { to: { user: 'buyer' }, data: { order: 1 }, idempotency_key: `order-${prefix}` };
  const held = holdAppend(a);
  const first = publish(a, body);
  await held.reached;
  assert.equal((await publish(b, body)).status, 409); // a is still working
  // a "dies": its Redis connections go, so it renews nothing (as after kill -9).
  await a.engine.close();
  const started = Date.now();
  // Bounded poll: retries answer 409 until the lease lapses.
  let reply: Awaited<ReturnType<typeof publish>> | undefined;
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline) {
    reply = await publish(b, body);
    if (reply.status !== 409) break;
  }
  assert.equal(reply?.status, 200, `still ${reply?.status} after ${Date.now() - started} ms (idempotencyTtlSec is 120 s)`);
  assert.deepEqual(reply.body.seq, { buyer: 1 });
  // The done result keeps the full TTL: repeats answer the same result.
  const again = await publish(b, body);
  assert.equal(again.body.id, reply.body.id);
  const ttl = await redis.admin.pttl((b.engine as RedisEngine).keys.idempotency(body.idempotency_key));
  assert.ok(ttl > 100_000, `done result ttl ${ttl} ms`);
  held.release(false);
  await first.catch(() => undefined);
});

for (const engine of ['redis', 'memory'] as const) {
  test(`a publish running longer than the lease keeps its claim: no double store (${engine})`, async () => {
    // A lease long enough that a loaded test machine still renews it in time (every third of it).
    const cfg = { nodeId: `long-${engine}`, idempotencyLeaseMs: 1_000 };
    const a = engine === 'redis' ? await redisNode(cfg) : await node(cfg);
    const b = engine === 'redis' ? await redisNode({ ...cfg, nodeId: 'long-b' }) : a;
    const key = `slow-${engine}-${prefix}`;
    const body = { to: { user: `slow-${engine}` }, data: 1, idempotency_key: key };
    const held = holdAppend(a);
    const first = publish(a, body);
    await held.reached;
    // Retries for three and a half leases while the first is held: every one must see it in progress.
    const until = Date.now() + 3_500;
    let tries = 0;
    while (Date.now() < until) {
      const r = await publish(b, body);
      assert.equal(r.status, 409, `retry ${tries} after ${3_500 - (until - Date.now())} ms`);
      tries++;
    }
    held.release(true);
    const done = await first;
    assert.equal(done.status, 200);
    const repeat = await publish(b, body);
    assert.equal(repeat.status, 200);
    assert.equal(repeat.body.id, done.body.id);
    const range = await a.engine.readAfter('default', `slow-${engine}`, 0, 10, { maxMessages: 1000, maxAgeMs: 86_400_000 });
    assert.equal(range.messages.length, 1);
    assert.ok(tries > 3);
  });
}
