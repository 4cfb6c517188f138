import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareCases, medianRun, runOrder } from '../src/compare.js';
import type { RunReport } from '../src/report.js';

function fake(scenario: RunReport['params']['scenario'], figure: number): RunReport {
  return {
    params: { scenario },
    messages: { deliveriesPerSec: figure },
    latencyMs: { p99: figure },
    server: { rssPerConnectionBytes: figure },
    connections: { connectsPerSec: figure },
  } as unknown as RunReport;
}

test('the median run is chosen by the scenario primary figure', () => {
  const b = [fake('broadcast', 300), fake('broadcast', 100), fake('broadcast', 200)];
  assert.equal(medianRun(b), b[2]);
  // Lower latency is better: the median of p99 values 5, 50, 9 is 9.
  const u = [fake('unicast', 5), fake('unicast', 50), fake('unicast', 9)];
  assert.equal(medianRun(u), u[2]);
  assert.equal(medianRun([]), undefined);
  const two = [fake('broadcast', 1), fake('broadcast', 2)];
  assert.equal(medianRun(two), two[0], 'even count: the lower middle');
});

test('the full cases match the issue; --quick scales them down', () => {
  const full = compareCases(false, 1);
  const by = Object.fromEntries(full.map((c) => [c.name, c]));
  assert.equal(by.broadcast?.connections, 5000);
  assert.equal(by.unicast?.connections, 5000);
  assert.equal(by.unicast?.rate, 5000);
  assert.equal(by.unicast?.reliable, false);
  assert.deepEqual(by.reliable?.targets, ['herald']);
  assert.equal(by.reliable?.reliable, true);
  assert.equal(by.idle?.connections, 15000);
  // Publishing cases warm up 3 s (counted apart); idle publishes nothing.
  assert.deepEqual(full.map((c) => [c.name, c.warmupSec]), [['broadcast', 3], ['unicast', 3], ['reliable', 3], ['idle', 0]]);
  const quick = compareCases(true, 1);
  assert.ok(quick.every((c) => c.connections <= 1500 && c.durationSec <= 5 && c.warmupSec <= 1));
  assert.ok(compareCases(false, 1, undefined, 0).every((c) => c.warmupSec === 0), '--warmup 0 turns it off');
});

test('runs interleave repeats per target, and unicast with reliable (its goal is a ratio to raw unicast)', () => {
  const order = (cases: string[], targets: Array<'raw' | 'socketio' | 'herald'>, repeat: number): string[] =>
    runOrder(compareCases(false, 1).filter((c) => cases.includes(c.name)), targets, repeat).map(({ c, target }) => `${c.name}:${target}`);
  assert.deepEqual(order(['broadcast', 'unicast', 'reliable', 'idle'], ['raw', 'herald'], 2), [
    'broadcast:raw', 'broadcast:herald', 'broadcast:raw', 'broadcast:herald',
    'unicast:raw', 'unicast:herald', 'reliable:herald', 'unicast:raw', 'unicast:herald', 'reliable:herald',
    'idle:raw', 'idle:herald', 'idle:raw', 'idle:herald',
  ]);
  assert.deepEqual(order(['reliable'], ['raw', 'socketio', 'herald'], 2), ['reliable:herald', 'reliable:herald'], 'reliable alone');
  assert.deepEqual(order(['unicast', 'reliable'], ['raw'], 1), ['unicast:raw'], 'reliable is Herald only');
});
