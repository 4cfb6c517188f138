/**
 * The Herald target end to end: the real server (packages/server, built by
 * `npm test` before the tests run) driven by the harness with small N. Checks
 * the v1 client path the bench relies on — welcome, join/reply, deliveries,
 * cumulative acks of reliable messages — with exact counts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runScenario, sourceAddresses } from '../src/orchestrator.js';
import type { RunOptions } from '../src/orchestrator.js';
import type { ScenarioName } from '../src/report.js';
import { startServer } from '../src/spawn.js';

const secret = randomBytes(32).toString('base64url');
const apiKey = randomBytes(24).toString('base64url');
const out = mkdtempSync(join(tmpdir(), 'herald-bench-h-'));
const serverMain = fileURLToPath(new URL('../../server/dist/cli/main.js', import.meta.url));

function options(scenario: ScenarioName, url: string, pid: number, base: string, extra: Partial<RunOptions>): RunOptions {
  return {
    target: 'herald',
    scenario,
    url,
    pid,
    connections: 30,
    workers: 2,
    addresses: sourceAddresses(30, base, 2),
    rooms: 1,
    rate: 0,
    window: 4,
    inFlight: 16,
    durationSec: 30,
    maxMessages: 5,
    payloadBytes: 100,
    reliable: false,
    connectConcurrency: 10,
    holdSec: 0,
    secret,
    apiKey,
    heapSource: 'metrics',
    reportIntervalMs: 100,
    handshakeTimeoutMs: 10_000,
    // The counts must be exact whatever the machine is doing: a starved publisher catches up, never skips.
    pacerMaxBacklog: Number.POSITIVE_INFINITY,
    drainTimeoutSec: 15,
    ...extra,
  };
}

test('end to end against Herald: broadcast, unicast and reliable unicast counts are exact', async () => {
  assert.ok(existsSync(serverMain), `Herald is not built (${serverMain}); run npm test or npx tsc -b packages/server`);
  // A short ack timeout makes a missing or late ack visible within the settle time as a resend.
  const server = await startServer({ kind: 'herald', secret, apiKey, logDir: join(out, 'logs'), env: { HERALD_ACK_TIMEOUT_MS: '300' } });
  try {
    const b = await runScenario(options('broadcast', server.httpBase, server.pid, '127.0.3.2', {}));
    assert.equal(b.connections.held, 30);
    assert.equal(b.messages.accepted, 5);
    assert.equal(b.messages.delivered, 150);
    assert.equal(b.latencyMs.count, 150);
    assert.deepEqual(b.errors, {});
    assert.ok((b.server.heapUsedBytes.baseline ?? 0) > 0, 'heap read from /metrics');

    const u = await runScenario(options('unicast', server.httpBase, server.pid, '127.0.4.2', { rate: 200, maxMessages: 120 }));
    assert.equal(u.messages.accepted, 120);
    assert.equal(u.messages.delivered, 120);
    assert.equal(u.latencyMs.count, 120);
    assert.deepEqual(u.errors, {});

    const r = await runScenario(options('unicast', server.httpBase, server.pid, '127.0.5.2', { rate: 200, maxMessages: 120, reliable: true, settleSec: 1.5 }));
    assert.equal(r.messages.accepted, 120);
    assert.equal(r.messages.delivered, 120, 'every reliable message delivered once');
    assert.equal(r.messages.duplicates, 0, 'every message acked within 300 ms: nothing resent during the settle time');
    assert.equal(r.latencyMs.count, 120);
    assert.deepEqual(r.errors, {});
  } finally {
    await server.stop();
  }
});
