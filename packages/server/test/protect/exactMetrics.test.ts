/**
 * Exact metrics: each family counts exactly one per event. In particular a
 * connection replaced with 4004 is in herald_disconnects_total and
 * herald_connection_lifetime_seconds, and herald_messages_acked_total does
 * not count seqs a device skipped because they targeted another device.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CloseCode } from '@herald/protocol';
import { connect, nodeFactory, publish, waitUntil } from '../helpers/harness.js';
import { scrape } from '../ops/metricsText.js';

const node = nodeFactory();

test('a connection replaced with 4004 counts one disconnect and one lifetime sample', async () => {
  const n = await node();
  const first = await connect(n, 'rep', { device: 'pos' });
  const before = await scrape(n);
  const second = await connect(n, 'rep', { device: 'pos' });
  assert.equal((await first.waitClosed()).code, CloseCode.Replaced);
  await waitUntil(async () => ((await scrape(n)).value('herald_disconnects_total', { code: '4004' }) === 1 ? true : undefined), 5000, '4004 counted');
  const after = await scrape(n);
  assert.equal(after.value('herald_disconnects_total', { code: '4004' }), 1);
  assert.equal(after.value('herald_disconnects_total') - before.value('herald_disconnects_total'), 1, 'exactly one disconnect');
  assert.equal(after.value('herald_connection_lifetime_seconds_count') - before.value('herald_connection_lifetime_seconds_count'), 1, 'exactly one lifetime sample');
  assert.equal(after.value('herald_connects_total') - before.value('herald_connects_total'), 1, 'exactly one connect');
  second.close();
});

test('acks count the messages a device handled, not seqs it skipped for another device', async () => {
  const n = await node();
  const phone = await connect(n, 'ack', { device: 'phone' });
  const pc = await connect(n, 'ack', { device: 'pc' });
  phone.autoAck = pc.autoAck = false; // the acks are the test's
  // seq 1: to the user (both devices), seq 2-3: to pc only, seq 4: to the user.
  assert.equal((await publish(n, { to: { user: 'ack' }, data: 1 })).status, 200);
  assert.equal((await publish(n, { to: { user: 'ack', device: 'pc' }, data: 2 })).status, 200);
  assert.equal((await publish(n, { to: { user: 'ack', device: 'pc' }, data: 3 })).status, 200);
  assert.equal((await publish(n, { to: { user: 'ack' }, data: 4 })).status, 200);
  const seen = await phone.waitForCount((f) => f.type === 'message', 2, 5000);
  assert.deepEqual(seen.map((f) => f.seq), [1, 4]);
  await pc.waitForCount((f) => f.type === 'message', 4, 5000);
  phone.send({ type: 'ack', seq: 4 }); // cumulative: covers 2 and 3, which phone never had
  await waitUntil(() => (n.stats.acked === 2 ? true : undefined), 5000, 'phone acks counted');
  pc.send({ type: 'ack', seq: 4 });
  await waitUntil(() => (n.stats.acked === 6 ? true : undefined), 5000, 'pc acks counted');
  // A repeated ack counts nothing.
  phone.send({ type: 'ack', seq: 4 });
  phone.send({ type: 'ping' });
  await phone.waitFor((f) => f.type === 'pong', 5000);
  assert.equal(n.stats.acked, 6);
  const s = await scrape(n);
  assert.equal(s.value('herald_messages_acked_total'), 6, 'phone 2 + pc 4');
  assert.equal(s.value('herald_messages_published_total', { target: 'user', reliable: 'true' }), 2);
  assert.equal(s.value('herald_messages_published_total', { target: 'device', reliable: 'true' }), 2);
  assert.equal(s.value('herald_messages_delivered_total', { kind: 'reliable' }), 6, 'one per frame written');
  assert.equal(s.value('herald_messages_delivered_total', { kind: 'reliable', target: 'device' }), 2);
  assert.equal(s.value('herald_deliver_latency_seconds_count'), 6);
  assert.equal(s.value('herald_messages_replayed_total'), 0);
  assert.equal(s.value('herald_messages_retried_total'), 0);
  phone.close();
  pc.close();
});

test('ephemeral publishes, rejections and HTTP requests count one each', async () => {
  const n = await node({ eventRateLimits: { 'x.*': { perSec: 0.001, burst: 1 } } });
  const c = await connect(n, 'eph', { tenant: 't' });
  await c.request({ type: 'join', room: 'r' });
  const before = await scrape(n);
  assert.equal((await publish(n, { to: { room: 'r', tenant: 't' }, data: 1, event: 'x.a' })).status, 200);
  assert.equal((await publish(n, { to: { room: 'r', tenant: 't' }, data: 1, event: 'x.a' })).status, 429);
  await c.waitFor((f) => f.type === 'message', 5000);
  const s = await scrape(n);
  const d = (name: string, labels: Record<string, string> = {}) => s.value(name, labels) - before.value(name, labels);
  assert.equal(d('herald_messages_published_total', { target: 'room', reliable: 'false' }), 1);
  assert.equal(d('herald_messages_delivered_total', { kind: 'ephemeral', target: 'room' }), 1);
  assert.equal(d('herald_limit_rejections_total', { limit: 'event_rate_per_tenant' }), 1);
  assert.equal(d('herald_http_requests_total', { route: 'publish', status: '200' }), 1);
  assert.equal(d('herald_http_requests_total', { route: 'publish', status: '429' }), 1);
  c.close();
});

test('ackMaxAttempts counts attempts, the first send included: 3 = 1 send + 2 retries, then one 4012', async () => {
  const n = await node({ ackMaxAttempts: 3, ackTimeoutMs: 50 });
  const c = await connect(n, 'slowack');
  c.autoAck = false;
  const before = await scrape(n);
  assert.equal((await publish(n, { to: { user: 'slowack' }, data: 'x' })).status, 200);
  const closed = await c.waitClosed(10_000);
  assert.equal(closed.code, CloseCode.AckTimeout);
  assert.equal(c.messages().filter((f) => f.seq === 1).length, 3, 'three sends of seq 1');
  await waitUntil(async () => ((await scrape(n)).value('herald_disconnects_total', { code: '4012' }) === 1 ? true : undefined), 5000, '4012 counted');
  const s = await scrape(n);
  assert.equal(s.value('herald_messages_retried_total') - before.value('herald_messages_retried_total'), 2, 'two retries');
  assert.equal(s.value('herald_messages_delivered_total', { kind: 'reliable' }) - before.value('herald_messages_delivered_total', { kind: 'reliable' }), 1, 'delivered counts the message once, not per resend');
});
