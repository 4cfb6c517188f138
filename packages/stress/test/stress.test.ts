/**
 * The CI variant of the stress suite: every scenario at the short profile
 * against real Herald processes and a real redis-server; fails on any violated
 * invariant and prints the seed to replay (`npm run stress -- --seed N`).
 * Seed: HERALD_STRESS_SEED, else random. Needs `npm run build` first and
 * redis-server on the PATH; never skips.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatReport } from '../src/report.js';
import { randomSeed } from '../src/rng.js';
import { runStress } from '../src/runner.js';
import { SCENARIOS, sabotage } from '../src/scenarios/index.js';

const seed = process.env.HERALD_STRESS_SEED ? Number(process.env.HERALD_STRESS_SEED) : randomSeed();
const quiet = (): void => {};

test('self-test: a message deleted from Redis is reported as lost (the delivery check can fail)', { timeout: 60_000 }, async () => {
  const r = await runStress({ profile: 'short', seed, scenarios: [sabotage], deliveryTimeoutMs: 3000, log: quiet });
  const res = r.scenarios[0];
  assert.ok(res, 'the self-test ran');
  assert.equal(res.error, undefined, `self-test setup failed: ${res.error} [seed ${seed}]`);
  assert.equal(r.ok, false, 'the run must fail');
  assert.ok(res.violations.some((v) => v.invariant === 'delivery' && /never delivered/.test(v.detail)), formatReport(r));
});

test(`short profile: every scenario, every invariant (seed ${seed})`, { timeout: 480_000 }, async () => {
  const lines: string[] = [];
  const r = await runStress({ profile: 'short', seed, log: (l) => lines.push(l) });
  const text = formatReport(r);
  console.log(text);
  assert.ok(r.ok, `stress invariants violated — replay with: npm run stress -- --profile short --seed ${seed}\n${text}`);
  assert.equal(r.scenarios.length, SCENARIOS.length, 'every scenario ran');
});
