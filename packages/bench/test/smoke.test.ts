/**
 * End to end: the real harness (client processes, HTTP publisher, bench
 * servers as child processes) with small N against raw ws and Socket.IO.
 * Counts must be exact: every accepted message delivered to every recipient
 * and the latency histogram holding exactly one value per delivery.
 * Timings are never asserted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runScenario, sourceAddresses } from '../src/orchestrator.js';
import type { RunOptions } from '../src/orchestrator.js';
import { writeRunFiles } from '../src/output.js';
import type { ScenarioName } from '../src/report.js';
import { startServer } from '../src/spawn.js';
import type { TargetKind } from '../src/targets/types.js';

const secret = randomBytes(32).toString('base64url');
const apiKey = randomBytes(24).toString('base64url');
const out = mkdtempSync(join(tmpdir(), 'herald-bench-'));

function options(target: TargetKind, scenario: ScenarioName, url: string, pid: number, extra: Partial<RunOptions>): RunOptions {
  return {
    target,
    scenario,
    url,
    pid,
    connections: 40,
    workers: 2,
    addresses: sourceAddresses(40, '127.0.0.2', 2),
    rooms: 1,
    rate: 0,
    window: 4,
    inFlight: 16,
    durationSec: 30,
    maxMessages: 10,
    payloadBytes: 100,
    reliable: false,
    connectConcurrency: 10,
    holdSec: 0,
    secret,
    apiKey,
    heapSource: 'stats',
    reportIntervalMs: 100,
    handshakeTimeoutMs: 10_000,
    // The counts must be exact whatever the machine is doing: a starved publisher catches up, never skips.
    pacerMaxBacklog: Number.POSITIVE_INFINITY,
    drainTimeoutSec: 15,
    ...extra,
  };
}

for (const target of ['raw', 'socketio'] as const) {
  test(`end to end against ${target}: broadcast and unicast counts are exact`, async () => {
    const server = await startServer({ kind: target, secret, apiKey, logDir: join(out, 'logs') });
    try {
      const b = await runScenario(options(target, 'broadcast', server.httpBase, server.pid, { maxMessages: 10 }));
      assert.equal(b.connections.held, 40);
      assert.equal(b.connections.failed, 0);
      assert.equal(b.messages.accepted, 10);
      assert.equal(b.messages.expectedDeliveries, 400);
      assert.equal(b.messages.delivered, 400);
      assert.equal(b.messages.lost, 0);
      assert.equal(b.messages.duplicates, 0);
      assert.equal(b.latencyMs.count, 400, 'one latency sample per delivery');
      assert.deepEqual(b.errors, {});
      assert.ok(b.server.rssBytes.baseline !== undefined && b.server.rssBytes.baseline > 0, 'server RSS read from /proc');
      assert.ok(b.server.heapUsedBytes.baseline !== undefined && b.server.heapUsedBytes.baseline > 0, 'server heap read from /stats');

      const u = await runScenario(options(target, 'unicast', server.httpBase, server.pid, { rate: 300, maxMessages: 300, addresses: sourceAddresses(40, '127.0.1.2', 2) }));
      assert.equal(u.messages.accepted, 300);
      assert.equal(u.messages.delivered, 300);
      assert.equal(u.messages.expectedDeliveries, 300);
      assert.equal(u.latencyMs.count, 300);
      assert.equal(u.messages.skipped, 0);
      assert.deepEqual(u.errors, {});

      const files = writeRunFiles(u, out);
      const json = JSON.parse(readFileSync(files.json, 'utf8')) as { messages: { delivered: number } };
      assert.equal(json.messages.delivered, 300);
      assert.match(readFileSync(files.html, 'utf8'), /<svg[^>]*>.*Deliveries per second/s);
    } finally {
      await server.stop();
    }
  });
}

test('a warm-up publishes the same way, is counted apart, and none of it leaks into the measured phase', async () => {
  const server = await startServer({ kind: 'raw', secret, apiKey, logDir: join(out, 'logs') });
  try {
    const u = await runScenario(options('raw', 'unicast', server.httpBase, server.pid, { rate: 300, maxMessages: 150, warmupSec: 5, addresses: sourceAddresses(40, '127.0.3.2', 2) }));
    assert.equal(u.params.warmupSec, 5);
    assert.ok(u.warmup, 'warm-up figures reported');
    assert.equal(u.warmup.published, 150);
    assert.equal(u.warmup.expectedDeliveries, 150);
    assert.equal(u.warmup.delivered, 150);
    assert.equal(u.warmup.latencyMs.count, 150, 'one warm-up latency sample per warm-up delivery');
    assert.equal(u.messages.accepted, 150);
    assert.equal(u.messages.delivered, 150, 'the measured phase counts only its own deliveries');
    assert.equal(u.latencyMs.count, 150);
    assert.equal(u.messages.duplicates, 0);
    assert.deepEqual(u.errors, {});

    // Closed loop: the broadcast window starts afresh after the warm-up (client counters reset).
    const b = await runScenario(options('raw', 'broadcast', server.httpBase, server.pid, { maxMessages: 10, warmupSec: 5, addresses: sourceAddresses(40, '127.0.4.2', 2) }));
    assert.equal(b.warmup?.delivered, 400);
    assert.equal(b.messages.accepted, 10);
    assert.equal(b.messages.delivered, 400);
    assert.equal(b.latencyMs.count, 400);
    assert.equal(b.messages.lost, 0);
  } finally {
    await server.stop();
  }
});

test('idle: per-connection memory is computed from baseline and held connections', async () => {
  const server = await startServer({ kind: 'raw', secret, apiKey, logDir: join(out, 'logs') });
  try {
    const r = await runScenario(options('raw', 'idle', server.httpBase, server.pid, { connections: 30, addresses: sourceAddresses(30, '127.0.2.2', 1) }));
    assert.equal(r.connections.held, 30);
    assert.ok(r.server.rssPerConnectionBytes !== undefined);
    assert.ok(r.server.heapPerConnectionBytes !== undefined);
  } finally {
    await server.stop();
  }
});

test('a wrong secret is reported as failed connections by kind, not a crash', async () => {
  const server = await startServer({ kind: 'socketio', secret, apiKey, logDir: join(out, 'logs') });
  try {
    const r = await runScenario({ ...options('socketio', 'storm', server.httpBase, server.pid, { connections: 6 }), secret: 'wrong-secret' });
    assert.equal(r.connections.held, 0);
    assert.equal(r.connections.failed, 6);
    assert.deepEqual(r.errors, { rejected_connect_error: 6 });
  } finally {
    await server.stop();
  }
});

test('refused broadcasts do not stall the closed-loop window', async () => {
  const server = await startServer({ kind: 'raw', secret, apiKey, logDir: join(out, 'logs') });
  try {
    // Every publish is refused (401): with a window of 2, publishing would stop after 2 without skips.
    const r = await runScenario({ ...options('raw', 'broadcast', server.httpBase, server.pid, { connections: 10, window: 2, maxMessages: 20, addresses: sourceAddresses(10, '127.0.6.2', 1) }), apiKey: 'not-the-key' });
    assert.equal(r.messages.published, 20);
    assert.equal(r.messages.accepted, 0);
    assert.equal(r.messages.delivered, 0);
    assert.deepEqual(r.errors, { publish_http_401: 20 });
  } finally {
    await server.stop();
  }
});
