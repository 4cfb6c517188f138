#!/usr/bin/env node
/**
 * Bytes allocated per delivery (issue 20): the callgrind meter (hotpath-instructions.mjs) leaves
 * garbage collection out, yet a delivery's allocations set how often the server scavenges and
 * what it promotes — the timed CPU and latency tail pay for them. A count, not a time: it does
 * not depend on the machine's load.
 *
 * Runs scripts/hotpath-instructions.mjs --no-valgrind (same server, users, clients and publishes)
 * with scripts/alloc-per-delivery-hook.mjs preloaded into the server: V8's sampling heap profiler
 * (objects later collected by minor and major GCs included) over the measured publishes only.
 * Prints the bytes allocated per delivery and the allocation sites (self bytes per delivery by
 * function and source line).
 *
 *   npm run build --silent
 *   node scripts/alloc-per-delivery.mjs --case unicast            # Herald, reliable: false
 *   node scripts/alloc-per-delivery.mjs --case reliable           # Herald, acked
 *   node scripts/alloc-per-delivery.mjs --case unicast --target raw   # the bench's raw ws server
 * Options: --users 20 --warmup 2000 --messages 4000 --interval 512 --top 40 --profile <file.heapprofile> --v8-flags=--no-turbo-inlining
 * --promoted: only the bytes that survive the young generation (promoted to old space, live or
 * garbage): what makes each scavenge longer. Needs users who each get a frame less often than
 * V8 scavenges (e.g. --users 5000), as in bench:compare.
 * Sampling: repeat a run to see its spread (a few %); the sites' split is an estimate.
 */
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { root, runHooked, WORKLOAD_OPTIONS } from './hooked-hotpath.mjs';

const { values: o } = parseArgs({
  options: {
    ...WORKLOAD_OPTIONS,
    messages: { type: 'string', default: '4000' },
    interval: { type: 'string', default: '512' },
    top: { type: 'string', default: '40' },
    /** Keep the sampling profile (Chrome DevTools: Memory → Load). */
    profile: { type: 'string' },
    /** V8 flags for the server, e.g. --no-turbo-inlining (sites by their own function, not the one they were inlined into). */
    'v8-flags': { type: 'string' },
    /** Only objects that survive the young generation. */
    promoted: { type: 'boolean', default: false },
  },
});
const M = Number(o.messages);
const profile = await runHooked({
  hook: 'alloc-per-delivery-hook.mjs', outVar: 'ALLOC_OUT', keepAs: o.profile,
  env: { ALLOC_WARMUP: o.warmup, ALLOC_MESSAGES: o.messages, ALLOC_INTERVAL: o.interval, ALLOC_V8_FLAGS: o['v8-flags'] ?? '', ALLOC_PROMOTED: o.promoted ? '1' : '0' },
  target: o.target, case: o.case, users: o.users, warmup: o.warmup, messages: o.messages, 'herald-bin': o['herald-bin'],
});

const sites = new Map();
let total = 0;
(function walk(node) {
  const f = node.callFrame;
  const self = node.selfSize;
  if (self > 0) {
    const file = f.url.startsWith('file://') ? relative(root, fileURLToPath(f.url)) : f.url || '(native)';
    const key = `${f.functionName || '(anonymous)'}  ${file}:${f.lineNumber + 1}`;
    sites.set(key, (sites.get(key) ?? 0) + self);
    total += self;
  }
  for (const c of node.children) walk(c);
})(profile.head);

process.stdout.write(`${o.target} ${o.case}: ${M} deliveries, ${Math.round(total / M).toLocaleString('en-US')} bytes ${o.promoted ? 'promoted (survived the young generation)' : 'allocated'} per delivery (sampling interval ${o.interval} B)\n`);
const rows = [...sites].sort((a, b) => b[1] - a[1]).slice(0, Number(o.top));
for (const [k, v] of rows) process.stdout.write(`${(v / M).toFixed(0).padStart(7)}  ${k}\n`);
