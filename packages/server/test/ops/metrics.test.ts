/**
 * /metrics: every family moves when its event happens (issue 8). Each test
 * takes a scrape before and after the event and compares, so tests do not
 * depend on each other's traffic.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CloseCode } from '@herald/protocol';
import { countLimitRejection } from '../../src/observability/stats.js';
import { api, connect, publish, nodeFactory } from '../helpers/harness.js';
import { scrape, scrapeUntil } from './metricsText.js';

const node = nodeFactory();

test('connections by platform and node; connects; disconnects by close code; connection lifetime', async () => {
  const n = await node();
  const before = await scrape(n);
  assert.equal(before.value('herald_connections', { platform: 'pos', node: n.nodeId }), 0);
  const pos = await connect(n, 'till-1', { platform: 'pos' });
  const phone = await connect(n, 'rider', { platform: 'mobile' });
  const s1 = await scrape(n);
  assert.equal(s1.value('herald_connections', { platform: 'pos', node: n.nodeId }), 1);
  assert.equal(s1.value('herald_connections', { platform: 'mobile', node: n.nodeId }), 1);
  assert.equal(s1.value('herald_connects_total') - before.value('herald_connects_total'), 2);
  assert.equal(s1.value('herald_users'), 2);

  // Server-side close (API disconnect, 4011) and a client close (1000).
  const r = await api(n, 'POST', '/api/v1/disconnect', { user: 'till-1' });
  assert.equal(r.status, 200);
  assert.equal((await pos.waitClosed()).code, CloseCode.ServerDisconnect);
  phone.ws.close(1000, 'bye');
  await phone.waitClosed();
  const s2 = await scrapeUntil(n, (s) => s.value('herald_connection_lifetime_seconds_count') - before.value('herald_connection_lifetime_seconds_count') === 2, 'two lifetimes observed');
  assert.equal(s2.value('herald_disconnects_total', { code: '4011' }) - before.value('herald_disconnects_total', { code: '4011' }), 1);
  assert.equal(s2.value('herald_disconnects_total', { code: '1000' }) - before.value('herald_disconnects_total', { code: '1000' }), 1);
  assert.equal(s2.value('herald_connections', { platform: 'pos' }), 0);
  assert.ok(s2.has('herald_connection_lifetime_seconds_bucket', { le: '+Inf' }));
});

test('published, delivered and acked by target kind; deliver and ack latency histograms count up', async () => {
  const n = await node();
  const a = await connect(n, 'ann', { device: 'phone' });
  const b = await connect(n, 'bob');
  assert.equal((await b.request({ type: 'join', room: 'lobby' })).type, 'reply');
  const s0 = await scrape(n);
  const d = (s: typeof s0, name: string, labels: Record<string, string>): number => s.value(name, labels) - s0.value(name, labels);

  assert.equal((await publish(n, { to: { user: 'ann' }, data: { n: 1 } })).status, 200);
  assert.equal((await publish(n, { to: { user: 'ann', device: 'phone' }, data: { n: 2 } })).status, 200);
  assert.equal((await publish(n, { to: { users: ['ann', 'bob'] }, data: { n: 3 } })).status, 200);
  assert.equal((await publish(n, { to: { room: 'lobby' }, data: { n: 4 } })).status, 200);
  assert.equal((await publish(n, { to: { tenant: 'default' }, data: { n: 5 } })).status, 200);
  assert.equal((await publish(n, { to: { all: true }, data: { n: 6 } })).status, 200);
  assert.equal((await publish(n, { to: { user: 'bob' }, data: { n: 7 }, reliable: false })).status, 200);
  await a.waitForCount((f) => f.type === 'message', 5);
  await b.waitForCount((f) => f.type === 'message', 5);

  // ann acks 3 reliable messages, bob 1 (autoAck).
  const s1 = await scrapeUntil(n, (s) => d(s, 'herald_messages_acked_total', { target: 'user' }) === 4, '4 acks');
  for (const [target, reliable] of [['user', 'true'], ['device', 'true'], ['users', 'true'], ['room', 'false'], ['tenant', 'false'], ['all', 'false'], ['user', 'false']]) {
    assert.equal(d(s1, 'herald_messages_published_total', { target: target!, reliable: reliable! }), 1, `published ${target} reliable=${reliable}`);
  }
  assert.equal(d(s1, 'herald_messages_delivered_total', { kind: 'reliable', target: 'user' }), 3); // ann ×2 (user, users), bob ×1
  assert.equal(d(s1, 'herald_messages_delivered_total', { kind: 'reliable', target: 'device' }), 1);
  assert.equal(d(s1, 'herald_messages_delivered_total', { kind: 'ephemeral', target: 'room' }), 1);
  assert.equal(d(s1, 'herald_messages_delivered_total', { kind: 'ephemeral', target: 'tenant' }), 2);
  assert.equal(d(s1, 'herald_messages_delivered_total', { kind: 'ephemeral', target: 'all' }), 2);
  assert.equal(d(s1, 'herald_messages_delivered_total', { kind: 'ephemeral', target: 'user' }), 1);
  // One observation per live reliable delivery and per ephemeral fan-out.
  assert.equal(d(s1, 'herald_deliver_latency_seconds_count', {}), 4 + 4);
  assert.ok(d(s1, 'herald_ack_latency_seconds_count', {}) >= 2, 'ack latency observed');
  assert.equal(s1.value('herald_ack_latency_seconds_bucket', { le: '+Inf' }), s1.value('herald_ack_latency_seconds_count'));
  assert.ok(s1.value('herald_inbox_messages') >= 4);
  a.close();
  b.close();
});

test('retried: a device that does not ack gets resends, then 4012', async () => {
  const n = await node({ ackTimeoutMs: 30, ackMaxAttempts: 3 });
  const c = await connect(n, 'sleepy');
  c.autoAck = false;
  const s0 = await scrape(n);
  assert.equal((await publish(n, { to: { user: 'sleepy' }, data: { wake: 'up' } })).status, 200);
  assert.equal((await c.waitClosed(10_000)).code, CloseCode.AckTimeout);
  const s1 = await scrapeUntil(n, (s) => s.value('herald_disconnects_total', { code: '4012' }) === 1, 'a 4012 disconnect');
  assert.equal(s1.value('herald_messages_retried_total', { target: 'user' }) - s0.value('herald_messages_retried_total', { target: 'user' }), 2);
  assert.equal(s1.value('herald_messages_acked_total') - s0.value('herald_messages_acked_total'), 0);
  assert.ok(c.messages().length >= 3, 'the message was sent three times');
});

test('limit rejections per limit, through the Stats helper', async () => {
  const n = await node();
  const s0 = await scrape(n);
  assert.ok(s0.declares('herald_limit_rejections_total'));
  n.stats.limitRejected('publish_per_user');
  n.stats.limitRejected('publish_per_user');
  countLimitRejection(n.stats, 'connections_per_user');
  countLimitRejection(undefined, 'origin');
  const s1 = await scrape(n);
  assert.equal(s1.value('herald_limit_rejections_total', { limit: 'publish_per_user' }), 2);
  assert.equal(s1.value('herald_limit_rejections_total', { limit: 'connections_per_user' }), 1);
});

test('expired: the lifecycle seam (events.expired) counts reliable messages whose ttl ran out', async () => {
  const n = await node();
  const s0 = await scrape(n);
  n.events.expired({ id: 'c', tenant: 't', user: 'u', device: 'd', platform: 'web', connectedAt: 0 }, 2);
  const s1 = await scrape(n);
  assert.equal(s1.value('herald_messages_expired_total', { target: 'user' }) - s0.value('herald_messages_expired_total', { target: 'user' }), 2);
});

test('event-loop lag, draining, engine up, expiry and the HTTP request counter are exported', async () => {
  const n = await node();
  const s = await scrape(n);
  for (const stat of ['mean', 'p99', 'max']) {
    assert.ok(s.has('herald_event_loop_lag_seconds', { stat, node: n.nodeId }), `event loop ${stat}`);
    assert.ok(Number.isFinite(s.value('herald_event_loop_lag_seconds', { stat })));
  }
  assert.equal(s.value('herald_draining'), 0);
  assert.equal(s.value('herald_engine_up'), 1);
  assert.ok(s.declares('herald_messages_expired_total'));
  const again = await scrape(n);
  assert.ok(again.value('herald_http_requests_total', { route: 'metrics', status: '200' }) >= 1);
  // Default Node.js metrics carry the node label too.
  assert.ok(again.has('process_cpu_user_seconds_total', { node: n.nodeId }));
});

test('engine-specific families read the optional engine.introspection.stats() at scrape time', async () => {
  const n = await node();
  const s0 = await scrape(n);
  assert.equal(s0.has('herald_engine_errors_total', { op: 'append' }), false);
  // What the Redis engine exposes; the memory engine has no stats().
  let calls = 0;
  Object.assign(n.engine, {
    introspection: {
      stats: async () => {
        calls++;
        return { ingestLagSeconds: 1.5, ingestPending: 7, ingestBacklog: 3, ingestDeadLettered: 2, redisRttSeconds: 0.0021, errors: { append: 3, connection: 1 }, expired: 4 };
      },
    },
  });
  const s1 = await scrape(n);
  assert.equal(calls, 1, 'one engine call per scrape');
  assert.equal(s1.value('herald_ingest_lag_seconds'), 1.5);
  assert.equal(s1.value('herald_ingest_pending_entries'), 7);
  assert.equal(s1.value('herald_ingest_backlog_entries'), 3);
  assert.equal(s1.value('herald_ingest_dead_lettered_total'), 2);
  assert.equal(s1.value('herald_redis_rtt_seconds'), 0.0021);
  assert.equal(s1.value('herald_engine_errors_total', { op: 'append' }), 3);
  assert.equal(s1.value('herald_engine_errors_total', { op: 'connection' }), 1);
  assert.equal(s1.value('herald_messages_expired_total'), 4);
  // A throwing engine keeps the last snapshot and never breaks the scrape.
  Object.assign(n.engine, { introspection: { stats: () => Promise.reject(new Error('redis down')) } });
  const s2 = await scrape(n);
  assert.equal(s2.value('herald_ingest_pending_entries'), 7);
});
