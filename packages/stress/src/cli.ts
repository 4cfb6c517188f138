#!/usr/bin/env node
/**
 * `npm run stress -- [--profile short|long] [--seed N] [--only a,b] [--json FILE] [--list]`
 * `npm run stress -- --profile soak [--seed N] [--duration MIN] [--period SEC] [--out DIR]`
 * Exit status: 0 when every invariant held (soak: and every series flat), 1 on a violation, 2 on bad usage.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { killAllChildren } from './children.js';
import { PROFILES, type Profile } from './profile.js';
import { formatReport } from './report.js';
import { randomSeed } from './rng.js';
import { runStress, selectScenarios } from './runner.js';
import { SCENARIOS } from './scenarios/index.js';
import { reanalyseSoak, runSoak, type SoakResult } from './soak/runSoak.js';

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        profile: { type: 'string', default: 'short' },
        seed: { type: 'string' },
        only: { type: 'string' },
        json: { type: 'string' },
        list: { type: 'boolean', default: false },
        strict: { type: 'boolean', default: false },
        duration: { type: 'string' },
        period: { type: 'string' },
        out: { type: 'string' },
        reanalyse: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (err) {
    process.stderr.write(`stress: ${(err as Error).message}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write('usage: npm run stress -- [--profile short|long] [--seed N] [--only name,name] [--json report.json] [--strict] [--list]\n');
    process.stdout.write('       npm run stress -- --profile soak [--seed N] [--duration MIN (60)] [--period SEC (120)] [--out DIR (artifacts/soak-<seed>)]\n');
    process.stdout.write('       npm run stress -- --reanalyse DIR   (a finished soak: verdict and plots again from its files)\n');
    return 0;
  }
  if (values.reanalyse !== undefined) {
    const r = await reanalyseSoak(values.reanalyse);
    printSoak(r, r.report.seed, values.reanalyse);
    return r.ok ? 0 : 1;
  }
  if (values.list) {
    for (const s of SCENARIOS) process.stdout.write(`${s.name.padEnd(18)} ${s.summary}\n`);
    return 0;
  }
  const profile = values.profile as Profile['name'];
  if (!(profile in PROFILES)) {
    process.stderr.write(`stress: unknown profile "${values.profile}" (short, long or soak)\n`);
    return 2;
  }
  const seed = values.seed === undefined ? randomSeed() : Number(values.seed);
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    process.stderr.write(`stress: --seed must be an integer in [0, 2^32)\n`);
    return 2;
  }
  if (profile === 'soak') {
    const durationMin = values.duration === undefined ? 60 : Number(values.duration);
    const periodSec = values.period === undefined ? undefined : Number(values.period);
    if (!(durationMin > 0) || (periodSec !== undefined && !(periodSec >= 10))) {
      process.stderr.write('stress: --duration must be > 0 minutes, --period ≥ 10 seconds\n');
      return 2;
    }
    try {
      const r = await runSoak({ seed, durationMin, outDir: values.out ?? `artifacts/soak-${seed}`, strict: values.strict, ...(periodSec !== undefined ? { periodMs: periodSec * 1000 } : {}) });
      process.stdout.write(formatReport(r.report) + '\n');
      printSoak(r, seed, values.out ?? `artifacts/soak-${seed}`);
      return r.ok ? 0 : 1;
    } catch (err) {
      process.stderr.write(`stress: soak failed: ${(err as Error).stack ?? String(err)}\nreplay with --profile soak --seed ${seed}\n`);
      return 1;
    } finally {
      killAllChildren();
    }
  }
  const only = values.only ? values.only.split(',').map((s) => s.trim()).filter(Boolean) : undefined;
  try {
    selectScenarios(only);
  } catch (err) {
    process.stderr.write(`stress: ${(err as Error).message}\n`);
    return 2;
  }
  try {
    const report = await runStress({ profile, seed, strict: values.strict, ...(only ? { only } : {}) });
    process.stdout.write(formatReport(report) + '\n');
    if (values.json) writeFileSync(values.json, JSON.stringify(report, null, 2));
    return report.ok ? 0 : 1;
  } catch (err) {
    process.stderr.write(`stress: run failed: ${(err as Error).stack ?? String(err)}\nreplay with --seed ${seed} --profile ${profile}\n`);
    return 1;
  } finally {
    killAllChildren();
  }
}

function printSoak(r: SoakResult, seed: number, dir: string): void {
  process.stdout.write(r.summary + '\n');
  for (const st of r.stats.filter((x) => !x.flat)) process.stdout.write(`  not flat: ${st.node} ${st.metric}: last third ${st.lastThird.toFixed(1)} > ${st.limit.toFixed(1)} (first third ${st.firstThird.toFixed(1)}) [seed ${seed}]\n`);
  process.stdout.write(`${r.ok ? 'SOAK PASS' : 'SOAK FAIL'} (seed ${seed}); plots: ${dir}/soak.html${r.png ? ' and soak.png' : ''}\n`);
}

process.exitCode = await main();
// Sockets of clients that the SDK is still closing must not keep the process alive.
setTimeout(() => process.exit(), 2000).unref();
