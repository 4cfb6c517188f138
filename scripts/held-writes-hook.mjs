/**
 * How many unicast publishes find write coalescing holding writes (protocol/writeCoalescing.ts):
 * a held frame leaves at the loop turn's `setImmediate`, after every other I/O callback of that
 * turn, where a direct one is written at once (issue 20, unicast latency). Preloaded into the
 * server; at each measured POST /api/v1/publish it reads the mode the publish's frame will meet.
 * A count, not a time.
 *
 *   HELD_OUT=/tmp/held.json HELD_WARMUP=2000 HELD_MESSAGES=10000 \
 *     NODE_OPTIONS="--import ./scripts/held-writes-hook.mjs" \
 *     node scripts/hotpath-instructions.mjs --no-valgrind --case unicast --warmup 2000 --messages 10000 --users 20
 *   cat /tmp/held.json   # {"direct":…, "holding":…}
 */
import dc from 'node:diagnostics_channel';
import { writeFileSync } from 'node:fs';

const script = process.argv[1] ?? '';
if (process.env.HELD_OUT && /herald\.js$/.test(script)) {
  const W = Number(process.env.HELD_WARMUP);
  const M = Number(process.env.HELD_MESSAGES);
  // The server's own module instance (same URL): its mode is what the server's writes meet.
  const wc = await import(new URL('../packages/server/dist/protocol/writeCoalescing.js', import.meta.url).href);
  let n = 0;
  let direct = 0;
  let holding = 0;
  dc.subscribe('http.server.request.start', ({ request }) => {
    if (request.method !== 'POST' || !request.url.startsWith('/api/v1/publish')) return;
    n++;
    if (n <= W || n > W + M) return;
    if (wc.writingDirectly()) direct++;
    else holding++;
    if (n === W + M) writeFileSync(process.env.HELD_OUT, JSON.stringify({ direct, holding }));
  });
}
