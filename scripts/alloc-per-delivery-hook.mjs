/**
 * Preloaded into the measured server by scripts/alloc-per-delivery.mjs (NODE_OPTIONS=--import):
 * counts POST /api/v1/publish requests (diagnostics channel) and runs V8's sampling heap
 * profiler, counting objects later collected by a scavenge or a mark-compact too, from the first
 * measured publish (ALLOC_WARMUP) until 300 ms after the last (ALLOC_MESSAGES), then writes the
 * profile to ALLOC_OUT. Does nothing in any other process (the load generator inherits the option).
 * ALLOC_PROMOTED=1: only objects that survive the young generation (those a scavenge collects are
 * left out; two scavenges just before the profile is taken move what is still young and live
 * along, and drop the young garbage that would otherwise count).
 */
import dc from 'node:diagnostics_channel';
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

const script = process.argv[1] ?? '';
if (process.env.ALLOC_OUT && /herald\.js$|rawWsServer\.js$/.test(script)) {
  // e.g. --no-turbo-inlining: each allocation charged to its own function rather than the one it was inlined into.
  if (process.env.ALLOC_V8_FLAGS) setFlagsFromString(process.env.ALLOC_V8_FLAGS);
  const W = Number(process.env.ALLOC_WARMUP);
  const M = Number(process.env.ALLOC_MESSAGES);
  const interval = Number(process.env.ALLOC_INTERVAL ?? 512);
  const promoted = process.env.ALLOC_PROMOTED === '1';
  let gc;
  if (promoted) {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc');
  }
  const session = new Session();
  session.connect();
  let n = 0;
  dc.subscribe('http.server.request.start', ({ request }) => {
    if (request.method !== 'POST' || !request.url.startsWith('/api/v1/publish')) return;
    if (n === W) {
      session.post('HeapProfiler.startSampling', {
        samplingInterval: interval, includeObjectsCollectedByMinorGC: !promoted, includeObjectsCollectedByMajorGC: true,
      });
    }
    n++;
    if (n === W + M) {
      setTimeout(() => {
        if (promoted) {
          gc({ type: 'minor' });
          gc({ type: 'minor' });
        }
        session.post('HeapProfiler.stopSampling', (err, r) => {
          if (err) throw err;
          writeFileSync(process.env.ALLOC_OUT, JSON.stringify(r.profile));
        });
      }, 300);
    }
  });
}
