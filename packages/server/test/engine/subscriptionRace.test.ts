/**
 * ChannelSubscriptions: interest that comes back while the UNSUBSCRIBE of its
 * channel is in flight must end subscribed, and `add` must not resolve before
 * it is. Found by the stress suite (rooms scenario, seed 777): the last member
 * of a room left a node and another joined it with `since` at once; `add`
 * resolved at once (the channel still counted as active), the UNSUBSCRIBE then
 * landed, and the node missed the room's live messages — a silent gap after a
 * recovery that said `recovered: true`.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { ChannelSubscriptions } from '../../src/engine/redis/subscriptions.js';
import { createLogger } from '../../src/observability/logger.js';
import { sharedRedis, testPrefix } from '../helpers/redisServer.js';

let url: string;
let admin: Redis;
const sub: Redis[] = [];

before(async () => {
  ({ url, client: admin } = await sharedRedis());
});
after(() => {
  for (const c of sub) c.disconnect();
  admin.disconnect();
});

test('a channel wanted again while its UNSUBSCRIBE is in flight ends subscribed, and add() waits for it', async () => {
  const client = new Redis(url, { lazyConnect: true, autoResubscribe: false });
  sub.push(client);
  const subs = new ChannelSubscriptions(client, false, createLogger('silent'));
  await client.connect();
  await subs.flushed();
  const channel = `${testPrefix()}race`;
  await subs.add(channel);
  assert.equal(await admin.publish(channel, 'one'), 1);
  subs.remove(channel);
  // Let the flush start: its UNSUBSCRIBE is now on the wire, unconfirmed.
  await new Promise<void>((r) => setImmediate(r));
  await subs.add(channel);
  assert.equal(await admin.publish(channel, 'two'), 1, 'the node must be subscribed once add() resolved');
  await subs.flushed();
  assert.equal(await admin.publish(channel, 'three'), 1, 'and stay subscribed');
  subs.close();
});

/**
 * The same race one step earlier (found by the one-hour soak, seed 20261201, period 20: Redis
 * latency, a client storm and a Redis stall): a flush sends its SUBSCRIBEs before its
 * UNSUBSCRIBEs, so while a storm's re-subscriptions are held by Redis, a channel whose
 * UNSUBSCRIBE is queued behind them is not on the wire yet. Interest that came back then counted
 * the channel as active, add() resolved at once, the queued UNSUBSCRIBE ended it, and the node
 * no longer heard the user's channel: a device there never got its last reliable message.
 */
test('a channel wanted again while its UNSUBSCRIBE waits behind the SUBSCRIBEs of the same flush ends subscribed', async () => {
  const client = new Redis(url, { lazyConnect: true, autoResubscribe: false });
  sub.push(client);
  const subs = new ChannelSubscriptions(client, false, createLogger('silent'));
  await client.connect();
  await subs.flushed();
  const leaving = `${testPrefix()}queued-leave`;
  const joining = `${testPrefix()}queued-join`;
  await subs.add(leaving);
  assert.equal(await admin.publish(leaving, 'one'), 1);
  // One flush with both: the SUBSCRIBE of `joining` goes first, the UNSUBSCRIBE of `leaving` waits behind it.
  subs.remove(leaving);
  const joined = subs.add(joining);
  // Let that flush start: its SUBSCRIBE is on the wire, the UNSUBSCRIBE not yet.
  await new Promise<void>((r) => setImmediate(r));
  await subs.add(leaving);
  await joined;
  assert.equal(await admin.publish(leaving, 'two'), 1, 'the node must be subscribed once add() resolved');
  await subs.flushed();
  assert.equal(await admin.publish(leaving, 'three'), 1, 'and stay subscribed');
  assert.equal(await admin.publish(joining, 'four'), 1);
  subs.close();
});
