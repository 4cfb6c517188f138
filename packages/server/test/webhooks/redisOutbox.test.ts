/**
 * RedisOutbox against the shared Redis (a fresh key prefix): a partition's
 * lease fences its reads, and a takeover claims every entry the previous
 * holder had read, oldest first, even past entries deleted meanwhile.
 *
 * Leases are long (60 s) so that no lease round runs during a test: each
 * test moves a lease by hand, the way a holder's stall or death would.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { RedisOutbox } from '../../src/webhooks/redisOutbox.js';
import { createLogger } from '../../src/observability/logger.js';
import { useSharedRedis, waitFor } from '../helpers/redisServer.js';

const redis = useSharedRedis();
const outboxes: RedisOutbox[] = [];
after(async () => {
  for (const o of outboxes) await o.stop();
});

async function outbox(nodeId: string, keyPrefix: string): Promise<RedisOutbox> {
  const o = new RedisOutbox({ url: redis.url, keyPrefix, nodeId, partitions: 1, leaseMs: 60_000, maxLen: 1000, maxBuffered: 100, logger: createLogger('silent') });
  outboxes.push(o);
  await o.start();
  return o;
}

/** Appends events with the given ids to partition 0 and waits until Redis has them all. */
async function appendIds(o: RedisOutbox, ids: string[]): Promise<void> {
  o.append(
    0,
    ids.map((id) => ({ type: 'connect' as const, ts: Date.now(), json: JSON.stringify({ id }) })),
  );
  const want = ids.length;
  await waitFor('events written', async () => (await redis.admin.xlen(o.stream(0))) >= want);
}

const ids = (entries: { json: string }[]): string[] => entries.map((e) => (JSON.parse(e.json) as { id: string }).id);

test('a holder that stalled past its lease reads nothing once another node took the partition; the new holder gets the entries', async () => {
  const prefix = `${redis.prefix}fence:`;
  const x = await outbox('x', prefix);
  assert.deepEqual([...x.owned()], [0]);
  // x stalls: its lease runs out before its next lease round, and y takes the partition over.
  await redis.admin.del(`${prefix}webhooks:{0}:lease`);
  const y = await outbox('y', prefix);
  assert.deepEqual([...y.owned()], [0]);
  assert.deepEqual(await y.take(0, 10), [], 'nothing pending to claim yet');
  await appendIds(x, ['e1', 'e2']);
  // x still believes it holds the partition; its read is refused, and it lets the partition go.
  assert.deepEqual(await x.take(0, 10), []);
  assert.deepEqual([...x.owned()], []);
  assert.deepEqual(ids(await y.take(0, 10)), ['e1', 'e2']);
});

test('a takeover claims the dead holder\'s pending entries oldest first, scanning past entries deleted meanwhile', async () => {
  const prefix = `${redis.prefix}claim:`;
  const x = await outbox('x', prefix);
  await appendIds(x, ['e1', 'e2', 'e3']);
  const read = await x.take(0, 10);
  assert.deepEqual(ids(read), ['e1', 'e2', 'e3']);
  // e1 was trimmed or deleted while pending; then x dies holding e2 and e3.
  await redis.admin.xdel(x.stream(0), read[0]!.ref);
  await redis.admin.del(`${prefix}webhooks:{0}:lease`);
  const y = await outbox('y', prefix);
  // One entry per read: the first claim scan meets only the deleted e1 and must go on.
  const first = await y.take(0, 1);
  assert.deepEqual(ids(first), ['e2']);
  await y.done(0, first);
  const second = await y.take(0, 1);
  assert.deepEqual(ids(second), ['e3']);
  await y.done(0, second);
  await appendIds(y, ['e4']);
  assert.deepEqual(ids(await y.take(0, 10)), ['e4'], 'then new entries');
  const consumers = (await redis.admin.xinfo('CONSUMERS', y.stream(0), 'herald-webhooks')) as unknown[][];
  assert.ok(!consumers.some((c) => String(c[1]).startsWith('x:')), 'the dead holder\'s consumer is forgotten');
});
