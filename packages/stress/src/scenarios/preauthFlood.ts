/**
 * A pre-auth flood: many sockets that open /ws and never authenticate. Silent
 * WebSockets (the `ws` library answers the close) must be closed 4001 after the
 * auth timeout, or 4005 over maxPendingAuth. Raw TCP upgrades that stop after a
 * partial frame header and never answer the close must get the close frame and
 * then be dropped by the server within a short grace — they must not hold a
 * pending-auth slot. The fleet keeps its messages; a new device connects after.
 */
import { NODE_ENV } from '../world.js';
import { openRaw, rawTcpFrame, type RawConn } from '@herald/testkit';
import type { Scenario } from '../scenario.js';
import { standardDevices, targetsFor, uid } from '../scenario.js';
import { waitFor, withTimeout } from '../wait.js';

/** How long the server may keep a socket whose peer ignores the close (the slow-consumer grace is 2 s). */
const DROP_GRACE_MS = 2000 + 2000;

export const preauthFlood: Scenario = {
  name: 'preauth-flood',
  summary: 'hundreds of sockets that never authenticate, beside a normal fleet',
  async run(ctx) {
    const { world, profile: p, rng, fleet, publisher } = ctx;
    const specs = standardDevices(ctx, Math.ceil(p.devices / 2));
    for (const s of specs) fleet.add(s);
    await fleet.connectAll(30_000);
    const stream = publisher.stream(targetsFor(specs), { ratePerSec: p.publishRate, durationMs: p.phaseMs, padBytes: 64 });
    const authMs = Number(NODE_ENV.HERALD_AUTH_TIMEOUT_MS);
    const flood: { conn: RawConn; raw: boolean }[] = [];
    for (let i = 0; i < p.floodConnections; i++) {
      const raw = rng.chance(0.2);
      flood.push({ raw, conn: raw ? rawTcpFrame(world.lb.port, '/ws', Buffer.from([0x81, 0xfe])) : openRaw(world.wsUrl) });
    }
    const closeBound = authMs + 6000;
    const results = await Promise.all(flood.map(({ conn, raw }) => withTimeout('flood socket closed', raw ? waitFor('close frame', () => conn.closeFrame, closeBound, 50).then(() => conn.closed) : conn.closed, closeBound + DROP_GRACE_MS).catch(() => undefined)));
    await stream;
    const codes = new Map<string, number>();
    let lingering = 0;
    let worstLinger = 0;
    results.forEach((r, i) => {
      const { conn, raw } = flood[i] as { conn: RawConn; raw: boolean };
      const code = raw ? conn.closeFrame?.code : r?.code;
      const key = code === undefined ? 'none' : String(code);
      codes.set(key, (codes.get(key) ?? 0) + 1);
      if (code === undefined) ctx.violations.push({ invariant: 'scenario', detail: `flood socket ${i}: no close within ${closeBound} ms` });
      else if (![4001, 4005].includes(code)) ctx.violations.push({ invariant: 'scenario', detail: `flood socket ${i} closed ${code}, expected 4001 or 4005` });
      if (raw && conn.closeFrame) {
        const held = (conn.result?.closedAt ?? Date.now()) - conn.closeFrame.at;
        worstLinger = Math.max(worstLinger, held);
        if (!conn.result || held > DROP_GRACE_MS) lingering++;
      }
    });
    if (lingering > 0)
      ctx.violations.push({
        invariant: 'leak',
        detail: `${lingering} unauthenticated socket(s) that ignore the close were still held by the server ${DROP_GRACE_MS} ms after their 4001/4005 close frame (one held ≥ ${worstLinger} ms, until the suite closed its side)`,
      });
    for (const { conn } of flood) conn.terminate();
    // The budget is back: a new device connects.
    const late = fleet.add({ tenant: 't1', user: uid(ctx, 'late'), device: 'l0' });
    await late.connect();
    await waitFor('the fleet reconnected', () => fleet.connectedCount() === fleet.devices.length, p.deliveryTimeoutMs, 100);
    ctx.notes.push(`${flood.length} unauthenticated sockets (${flood.filter((f) => f.raw).length} raw TCP that ignore the close): ${[...codes].map(([c, k]) => `${c}×${k}`).join(', ')}`);
  },
};
