/** Load shedding: a node driven into overload (busy loop in-process) refuses new connections (1013) and ephemeral publishes (503), keeps reliable publishes, acks and health checks, and recovers with hysteresis. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CloseCode } from '@herald/protocol';
import { api, connect, nodeFactory, open, publish, token, waitUntil } from '../helpers/harness.js';
import { scrape } from '../ops/metricsText.js';

const node = nodeFactory();

function busy(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    /* the overload */
  }
}

test('overload sheds in priority order and recovers', async () => {
  const n = await node({ shedEventLoopDelayMs: 250, shedCheckIntervalMs: 50, shedRetryAfterSec: 3, ackTimeoutMs: 60_000 });
  const dev = await connect(n, 'ann');
  // Thresholds well above a loaded test machine's noise (250 ms; calm under 125 ms).
  await waitUntil(() => (n.shedder.level === 0 ? true : undefined), 5000, 'normal at start');

  // Two checks that each find the loop held up 600 ms: level 1, then level 2.
  busy(600);
  await waitUntil(() => (n.shedder.level >= 1 ? true : undefined), 2000, 'level 1');
  busy(600);
  await waitUntil(() => (n.shedder.level === 2 ? true : undefined), 2000, 'level 2');
  // Keep it there while the checks below run: a check that finds the loop calm steps down.
  const hold = setInterval(() => busy(400), 40);
  try {
    // New connections: 1013 with a retry hint.
    const late = open(n, { token: await token('bob') });
    const closed = await late.waitClosed(5000);
    assert.equal(closed.code, CloseCode.TryAgainLater);
    assert.match(closed.reason, /retry in 3s/);
    // Ephemeral API publishes: 503 overloaded with Retry-After.
    const eph = await publish(n, { to: { room: 'r' }, data: 1 });
    assert.equal(eph.status, 503);
    assert.equal((eph.body.error as { code: string }).code, 'overloaded');
    assert.equal(eph.headers.get('retry-after'), '3');
    // Reliable publishes, their delivery and acks still flow; so do health checks.
    const rel = await publish(n, { to: { user: 'ann' }, data: { important: true } });
    assert.equal(rel.status, 200);
    const msg = await dev.waitFor((f) => f.type === 'message' && typeof f.seq === 'number', 5000, 'reliable message');
    dev.send({ type: 'ack', seq: msg.seq });
    await waitUntil(() => (n.stats.acked >= 1 ? true : undefined), 5000, 'ack counted');
    assert.equal((await api(n, 'GET', '/healthz')).status, 200);
    const ready = await api(n, 'GET', '/readyz');
    assert.equal(ready.status, 200);
    assert.equal(ready.body.load, 'refusing_ephemeral_publishes');
    assert.match(String((ready.body.loadShedding as { reason: string }).reason), /event-loop delay/);
    const s = await scrape(n);
    assert.equal(s.value('herald_load_shed_level'), 2);
    assert.equal(s.value('herald_limit_rejections_total', { limit: 'shed_connections' }), 1);
    assert.equal(s.value('herald_limit_rejections_total', { limit: 'shed_publishes' }), 1);
    const admin = await api(n, 'GET', '/admin/api/stats');
    assert.equal(((admin.body.protection as { loadShedding: { level: number } }).loadShedding).level, 2);
  } finally {
    clearInterval(hold);
  }
  // Calm again: one step down per calm check, back to normal; connections are admitted again.
  await waitUntil(() => (n.shedder.level === 0 ? true : undefined), 15_000, 'recovered');
  const again = await connect(n, 'bob');
  assert.equal((await publish(n, { to: { room: 'r' }, data: 2 })).status, 200);
  assert.equal(dev.closed, undefined, 'the existing connection was never dropped');
  again.close();
  dev.close();
});

test('thresholds are options: out of range refused with the key named', async () => {
  await assert.rejects(node({ shedRecoverPercent: 0 }), /shedRecoverPercent/);
  await assert.rejects(node({ shedCheckIntervalMs: 1 }), /shedCheckIntervalMs/);
});

test('outbound buffered bytes over the threshold shed too, and recover once the client reads', async () => {
  const n = await node({ shedOutboundBufferedBytes: 256 * 1024, shedEventLoopDelayMs: 0, shedCheckIntervalMs: 50, maxMessageBytes: 1024 * 1024, outboundBufferBytes: 64 * 1024 * 1024 });
  const slow = await connect(n, 'slow');
  const sock = (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
  sock.pause(); // stops reading: the server's writes pile up in its socket buffer
  const chunk = 'x'.repeat(512 * 1024);
  for (let i = 0; i < 24 && n.shedder.level === 0; i++) assert.equal((await publish(n, { to: { user: 'slow' }, data: chunk, reliable: false })).status, 200);
  await waitUntil(() => (n.shedder.level >= 1 ? true : undefined), 5000, 'shedding on buffered bytes');
  assert.match(n.shedder.state.reason, /outbound buffered/);
  sock.resume();
  await waitUntil(() => (n.shedder.level === 0 ? true : undefined), 15_000, 'recovered once drained');
  assert.equal(slow.closed, undefined);
  slow.close();
});
