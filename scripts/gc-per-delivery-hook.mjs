/**
 * Preloaded into the measured server by scripts/gc-per-delivery.mjs (NODE_OPTIONS=--import):
 * counts POST /api/v1/publish requests (diagnostics channel) and, from the first measured publish
 * (GC_WARMUP) until 300 ms after the last (GC_MESSAGES), counts the garbage collections V8 reports
 * (PerformanceObserver 'gc': scavenges, mark-compacts, incremental marking steps, weak callbacks)
 * and, per scavenge (v8.GCProfiler), the bytes left in the young generation (copied: what a
 * scavenge's pause is spent on) and promoted to the old one, then writes them to GC_OUT. Does nothing in any other process (the load generator inherits the option).
 */
import dc from 'node:diagnostics_channel';
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { writeFileSync } from 'node:fs';
import { GCProfiler, getHeapSpaceStatistics, getHeapStatistics } from 'node:v8';

const script = process.argv[1] ?? '';
if (process.env.GC_OUT && /herald\.js$|rawWsServer\.js$/.test(script)) {
  const W = Number(process.env.GC_WARMUP);
  const M = Number(process.env.GC_MESSAGES);
  const counts = { minor: 0, major: 0, incremental: 0, weakcb: 0 };
  let observing = false;
  const obs = new PerformanceObserver((list) => {
    if (!observing) return;
    for (const e of list.getEntries()) {
      const kind = e.detail?.kind ?? e.kind;
      if (kind === constants.NODE_PERFORMANCE_GC_MINOR) counts.minor++;
      else if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) counts.major++;
      else if (kind === constants.NODE_PERFORMANCE_GC_INCREMENTAL) counts.incremental++;
      else if (kind === constants.NODE_PERFORMANCE_GC_WEAKCB) counts.weakcb++;
    }
  });
  obs.observe({ entryTypes: ['gc'] });
  let n = 0;
  // Per collection: what survived in the young generation and what was promoted (bytes: counts, not times).
  const profiler = new GCProfiler();
  let heapBefore;
  let newSpaceBefore;
  dc.subscribe('http.server.request.start', ({ request }) => {
    if (request.method !== 'POST' || !request.url.startsWith('/api/v1/publish')) return;
    if (n === W) {
      observing = true;
      profiler.start();
      heapBefore = getHeapStatistics();
      newSpaceBefore = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size;
    }
    n++;
    if (n === W + M) {
      setTimeout(() => {
        // Entries are delivered asynchronously: one more turn before they are counted.
        setImmediate(() => {
          observing = false;
          const stats = profiler.stop()?.statistics ?? [];
          const used = (g, space) => g.heapSpaceStatistics.find((x) => x.spaceName === space)?.spaceUsedSize ?? 0;
          let survived = 0;
          let promoted = 0;
          let scavenges = 0;
          for (const g of stats) {
            if (g.gcType !== 'Scavenge') continue;
            scavenges++;
            survived += used(g.afterGC, 'new_space');
            promoted += Math.max(0, used(g.afterGC, 'old_space') - used(g.beforeGC, 'old_space'));
          }
          const h = getHeapStatistics();
          const young = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
          writeFileSync(process.env.GC_OUT, JSON.stringify({ ...counts, heapUsedBefore: heapBefore.used_heap_size, heapUsedAfter: h.used_heap_size, newSpaceSize: young?.space_size, newSpaceBefore, profiled: { scavenges, survived, promoted } }));
        });
      }, 300);
    }
  });
}
