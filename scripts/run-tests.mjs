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
const args = ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=180000', ...files];
const r = spawnSync(process.execPath, args, { stdio: 'inherit', env: { ...process.env, HERALD_LOG_LEVEL: process.env.HERALD_LOG_LEVEL ?? 'silent' } });
process.exit(r.status ?? 1);
