#!/usr/bin/env node
/**
 * Garbage collections per 1,000 deliveries (issue 20): how often the server scavenges and
 * mark-compacts on the unicast or reliable path — counts, not pause times (a shared machine's
 * load moves times, not what a workload allocates and so how often V8 collects).
 *
 * Runs scripts/hotpath-instructions.mjs --no-valgrind (same server, users, clients and publishes
 * as scripts/alloc-per-delivery.mjs) with scripts/gc-per-delivery-hook.mjs preloaded into the
 * server, which counts V8's GC events (PerformanceObserver 'gc') over the measured publishes only,
 * and per scavenge the bytes that survived it (a scavenge's work is copying them) and were promoted.
 *
 *   npm run build --silent
 *   node scripts/gc-per-delivery.mjs --case unicast                 # Herald, reliable: false
 *   node scripts/gc-per-delivery.mjs --case unicast --target raw    # the bench's raw ws server
 * Options: --users 20 --warmup 2000 --messages 20000 --runs 1
 * A scavenge comes every ~1 MB of young-generation allocation at first (V8 grows the semi-space up
 * to --max-semi-space-size under load), so counts are coarse: measure enough messages.
 */
import { parseArgs } from 'node:util';
import { runHooked, WORKLOAD_OPTIONS } from './hooked-hotpath.mjs';

const { values: o } = parseArgs({
  options: {
    ...WORKLOAD_OPTIONS,
    messages: { type: 'string', default: '20000' },
    runs: { type: 'string', default: '1' },
  },
});
const M = Number(o.messages);
for (let run = 0; run < Number(o.runs); run++) {
  const c = await runHooked({
    hook: 'gc-per-delivery-hook.mjs', outVar: 'GC_OUT', env: { GC_WARMUP: o.warmup, GC_MESSAGES: o.messages },
    target: o.target, case: o.case, users: o.users, warmup: o.warmup, messages: o.messages, 'herald-bin': o['herald-bin'],
  });
  const kb = (b) => (b / 1024).toFixed(1);
  const per = (n) => ((n * 1000) / M).toFixed(2);
  process.stdout.write(
    `${o.target} ${o.case}: ${M} deliveries — scavenges ${c.minor} (${per(c.minor)} per 1,000), mark-compacts ${c.major} (${per(c.major)} per 1,000), ` +
      `incremental marking ${c.incremental}, weak callbacks ${c.weakcb}; new space ${(c.newSpaceBefore / 1048576).toFixed(1)} → ${(c.newSpaceSize / 1048576).toFixed(1)} MB; ` +
      `per scavenge: ${kb(c.profiled.survived / (c.profiled.scavenges || 1))} KB survived, ${kb(c.profiled.promoted / (c.profiled.scavenges || 1))} KB promoted; promoted per delivery ${(c.profiled.promoted / M).toFixed(1)} B\n`,
  );
}
