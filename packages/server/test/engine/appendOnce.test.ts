/**
 * A publish with an idempotency key stores each user's message at most once, even when the node
 * that stored it died before recording the publish's result (its claim lapsed, the result was
 * never written): the append itself records the key, atomically with the message. This is what
 * keeps a redelivered ingest entry (RabbitMQ, NATS, PostgreSQL, Redis stream) from storing twice.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RedisEngine } from '../../src/engine/redis/redisEngine.js';
import { nodeFactory, publish } from '../helpers/harness.js';
import { useSharedRedis } from '../helpers/redisServer.js';

const node = nodeFactory();
const redis = useSharedRedis();
const prefix = redis.prefix;

const retention = { maxMessages: 1000, maxAgeMs: 86_400_000 };

for (const engine of ['memory', 'redis'] as const) {
  test(`a retry whose first attempt stored but never recorded its result stores nothing new (${engine})`, async () => {
    const n = await node(engine === 'redis' ? { engine: 'redis', redisUrl: redis.url, redisKeyPrefix: prefix } : {});
    const key = `once-${engine}-${prefix}`;
    const body = { to: { users: ['ana', 'ben'] }, data: { order: 7 }, idempotency_key: key };
    const first = await publish(n, body);
    assert.equal(first.status, 200);
    // The node "died" after the store: the claim and its result are gone, as if never written.
    await n.engine.idempotencyRelease(key);
    const retry = await publish(n, body);
    assert.equal(retry.status, 200);
    assert.deepEqual(retry.body.seq, first.body.seq, 'the same seqs: nothing stored again');
    assert.equal(retry.body.id, first.body.id, 'the id the first attempt returned');
    for (const user of ['ana', 'ben']) {
      const range = await n.engine.readAfter('default', user, 0, 10, retention);
      assert.equal(range.messages.length, 1, `${user} holds one message`);
    }
    // Another key is another message.
    const other = await publish(n, { ...body, idempotency_key: key + '-b' });
    assert.deepEqual(other.body.seq, { ana: 2, ben: 2 });
  });
}

test('the once record shares the user slot and expires with the idempotency TTL (redis)', async () => {
  const n = await node({ engine: 'redis', redisUrl: redis.url, redisKeyPrefix: prefix, idempotencyTtlSec: 60 });
  const key = `ttl-${prefix}`;
  assert.equal((await publish(n, { to: { user: 'cy' }, data: 1, idempotency_key: key })).status, 200);
  const record = (n.engine as RedisEngine).keys.userAppendOnce('default', 'cy', key);
  assert.ok(record.includes((n.engine as RedisEngine).keys.userTag('default', 'cy')), 'same hash tag as the user keys');
  const ttl = await redis.admin.pttl(record);
  assert.ok(ttl > 50_000 && ttl <= 60_000, `ttl ${ttl} ms`);
  assert.match((await redis.admin.get(record)) ?? '', /^1\|/);
});
