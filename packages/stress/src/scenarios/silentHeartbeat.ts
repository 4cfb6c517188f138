/** Clients that never answer heartbeats (no pongs, no pings): the server must close them 4010, on time. */
import { NODE_ENV } from '../world.js';
import { mintToken, openRaw, type RawConn } from '@herald/testkit';
import type { Scenario } from '../scenario.js';
import { standardDevices, targetsFor, uid } from '../scenario.js';
import { withTimeout } from '../wait.js';

export const silentHeartbeat: Scenario = {
  name: 'silent-heartbeat',
  summary: 'raw clients that never answer pings, beside a normal fleet',
  async run(ctx) {
    const { world, profile: p, rng, fleet, publisher } = ctx;
    const specs = standardDevices(ctx, Math.ceil(p.devices / 2));
    for (const s of specs) fleet.add(s);
    await fleet.connectAll(30_000);
    const hb = Number(NODE_ENV.HERALD_HEARTBEAT_MS);
    const bound = 3 * hb + 3000; // "about 2×" heartbeat, checked on a heartbeat/2 tick, plus scheduling slack
    const n = Math.max(4, Math.round(p.devices / 3));
    const silent: RawConn[] = [];
    for (let i = 0; i < n; i++) {
      const token = mintToken(world.settings.jwtSecret, { sub: uid(ctx, `silent${i}`), tid: 't1', ttlSec: 3600 });
      silent.push(openRaw(`${world.wsUrl}?token=${token}&device=s${rng.int(0, 9999)}`, { autoPong: false }));
    }
    const stream = publisher.stream(targetsFor(specs), { ratePerSec: p.publishRate, durationMs: Math.max(p.phaseMs, bound), padBytes: 32 });
    const results = await Promise.all(silent.map((c) => withTimeout('silent client close', c.closed, bound + 5000).catch(() => undefined)));
    await stream;
    const codes = new Map<string, number>();
    results.forEach((r, i) => {
      const conn = silent[i] as RawConn;
      const key = r ? String(r.code) : 'open';
      codes.set(key, (codes.get(key) ?? 0) + 1);
      if (!r) ctx.violations.push({ invariant: 'scenario', detail: `silent client ${i} still open after ${bound + 5000} ms` });
      else if (r.code !== 4010) ctx.violations.push({ invariant: 'scenario', detail: `silent client ${i} closed ${r.code}, expected 4010` });
      else if (r.closedAt - conn.openedAt > bound) ctx.violations.push({ invariant: 'scenario', detail: `silent client ${i} closed after ${r.closedAt - conn.openedAt} ms (bound ${bound} ms)` });
    });
    for (const c of silent) c.terminate();
    ctx.notes.push(`${n} silent clients closed: ${[...codes].map(([c, k]) => `${c}×${k}`).join(', ')}`);
  },
};
