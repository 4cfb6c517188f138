import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatGoals, goalVerdicts, ISSUE20_GOALS } from '../src/goals.js';
import type { RunReport } from '../src/report.js';

function report(f: { dps?: number; cpu?: number; p50?: number; p99?: number; rss?: number }): RunReport {
  return {
    messages: { deliveriesPerSec: f.dps ?? 0 },
    latencyMs: { p50: f.p50 ?? 0, p99: f.p99 ?? 0, count: f.p99 === undefined ? 0 : 100 },
    server: { cpuUsPerDelivery: f.cpu, rssPerConnectionBytes: f.rss },
  } as unknown as RunReport;
}

const full = {
  broadcast: { raw: report({ dps: 50_000 }), socketio: report({ dps: 40_000 }), herald: report({ dps: 80_000 }) },
  unicast: { raw: report({ cpu: 100, p50: 0.5, p99: 20 }), socketio: report({ cpu: 130, p50: 0.6, p99: 27 }), herald: report({ cpu: 130, p50: 0.9, p99: 25 }) },
  reliable: { herald: report({ p50: 1, p99: 33 }) },
  idle: { raw: report({ rss: 6400 }), socketio: report({ rss: 14_000 }), herald: report({ rss: 6800 }) },
};

test('every goal of the issue is judged met or missed on ratios to the same run', () => {
  const v = goalVerdicts(full);
  assert.equal(v.length, ISSUE20_GOALS.length);
  const by = (name: string): string | undefined => v.find((x) => x.goal === name)?.status;
  // 80k / 50k = 1.6 ≥ 1.5: met; 80k / 40k = 2.0 ≥ 2: met (the bound is inclusive).
  assert.equal(by('broadcast deliveries/s vs raw ws'), 'met');
  assert.equal(by('broadcast deliveries/s vs Socket.IO 4'), 'met');
  // 130 / 100 = 1.3 > 1.2: missed.
  assert.equal(by('unicast server CPU per delivery vs raw ws'), 'missed');
  assert.equal(by('unicast latency p50 vs raw ws'), 'met'); // 1.8 ≤ 2
  assert.equal(by('unicast latency p99 vs raw ws'), 'met'); // 1.25 ≤ 1.3
  // Reliable is compared with raw ws unicast: 33 / 20 = 1.65 > 1.6.
  const rel = v.find((x) => x.goal.startsWith('reliable'));
  assert.equal(rel?.status, 'missed');
  assert.equal(rel?.ratio?.toFixed(2), '1.65');
  assert.match(rel?.line ?? '', /goal ≤ 1\.6× raw ws unicast: missed/);
  assert.equal(by('idle RSS per connection vs raw ws'), 'missed'); // 6800 / 6400 = 1.06 > 1.05
});

test('a goal without its reference target or without Herald is n/a and names what it needs', () => {
  const v = goalVerdicts({ broadcast: { herald: report({ dps: 80_000 }) }, unicast: { herald: report({ cpu: 1, p50: 1, p99: 1 }) } });
  assert.ok(v.every((x) => x.status === 'n/a'));
  assert.match(v[0]?.line ?? '', /n\/a \(needs raw\)/);
  assert.match(v[1]?.line ?? '', /n\/a \(needs socketio\)/);
  assert.match(v.find((x) => x.goal.startsWith('reliable'))?.line ?? '', /needs herald reliable and raw unicast/);
  const text = formatGoals(v);
  assert.match(text, /0 of 0 judged met/);
});

test('the summary counts met goals among the judged ones', () => {
  const text = formatGoals(goalVerdicts(full));
  assert.match(text, /^Goals \(issue 20\), 4 of 7 judged met:/);
  assert.equal(text.split('\n').length, 1 + ISSUE20_GOALS.length);
});
