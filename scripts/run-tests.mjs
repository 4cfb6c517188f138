#!/usr/bin/env node
// Runs every test file of every package with node:test (TypeScript through tsx).
// Usage: node scripts/run-tests.mjs [substring-filter ...]
// Node 20's runner does not expand globs, so the files are listed here.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const roots = ['packages/protocol/test', 'packages/server/test', 'packages/client/test', 'packages/node/test', 'packages/testkit/test', 'packages/bench/test', 'packages/stress/test'];
const filters = process.argv.slice(2);

function walk(dir, out) {
  let entries;
  try { entries = readdirSync(dir); } catch { return out; }
  for (const name of entries.sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const files = roots.flatMap((r) => walk(r, [])).filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
// The stress suite's CI variant (about 3 minutes of real processes under faults) runs after the rest,
// alone: its time bounds are meant for a machine that is not also running two other test files, and
// it gets a file timeout of its own (every other file must finish within 180 s).
const STRESS = 'packages/stress/test/stress.test.ts';
const env = { ...process.env, HERALD_LOG_LEVEL: process.env.HERALD_LOG_LEVEL ?? 'silent' };
// --test-force-exit: a file whose tests and after-hooks have all finished ends even if a library
// left a handle open (once, a Redis Cluster client of ioredis reconnecting after its servers were
// stopped kept webhooksCluster.test.ts alive after it had passed). `herald serve` exits explicitly
// after its shutdown for the same reason; that a closed node leaves no Redis connection behind is a test of its own (webhooksRedis, webhooksCluster).
const run = (list, timeoutMs, concurrency) =>
  list.length === 0
    ? 0
    : (spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-force-exit', `--test-concurrency=${concurrency}`, `--test-timeout=${timeoutMs}`, ...list], { stdio: 'inherit', env }).status ?? 1);
const rest = files.filter((f) => f.replaceAll('\\', '/') !== STRESS);
const stress = files.filter((f) => f.replaceAll('\\', '/') === STRESS);
const a = run(rest, 180_000, 2);
const b = run(stress, 420_000, 1);
process.exit(a !== 0 ? a : b);
