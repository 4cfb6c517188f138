/**
 * SSE devices under faults: streams through the client fault proxy (latency,
 * cuts, dropped reconnects) and a kill -9 of a node; each device resumes with
 * `Last-Event-ID` and acks by `POST /sse/ack` on a sticky path to its stream's
 * node, itself lossy (dropped connections, acks skipped on purpose: the server
 * resends, the device dedupes). The delivery invariant is the WebSocket one:
 * exactly once after dedupe, in order per user, nothing acknowledged lost.
 */
import { FaultProxy } from '../faultProxy.js';
import { checkDelivery } from '../invariants.js';
import type { Scenario } from '../scenario.js';
import { standardDevices, targetsFor } from '../scenario.js';
import { SseDevice } from '../sseClient.js';
import { delay, waitFor, WaitTimeout, withTimeout } from '../wait.js';

export const sse: Scenario = {
  name: 'sse',
  summary: 'SSE streams cut and resumed with Last-Event-ID, acks by POST, a kill -9',
  async run(ctx) {
    const { world, profile: p, rng, publisher } = ctx;
    // The sticky path for POSTs: one proxy per node (a balancer keeping a client on its stream's node).
    // Streams on the workers node (welcome node `<id>-w<i>`) find no entry and do not ack by POST:
    // node:cluster hands each request to any worker, so a POST there would mostly answer 404
    // (docs/protocol.md). Their messages are still checked: unacked ones are resent and resumed.
    const sticky = new Map<string, FaultProxy>();
    const devices: SseDevice[] = [];
    try {
      for (const n of world.nodes) {
        const fp = new FaultProxy(`sse-sticky-${n.id}`, [{ host: '127.0.0.1', port: n.port }], rng.fork(`sticky-${n.id}`));
        await fp.listen();
        sticky.set(n.id, fp);
      }
      const specs = standardDevices(ctx, Math.ceil(p.devices / 2), Math.ceil(p.users / 2));
      const ackLossRate = Math.round(rng.next() * 20) / 100;
      for (const s of specs)
        devices.push(new SseDevice({ ...s, jwtSecret: world.settings.jwtSecret, streamPort: world.lb.port, postPort: (node) => sticky.get(node)?.port, publishIndex: () => publisher.position(), rng: rng.fork(`sse/${s.user}/${s.device}`), ackLossRate }));
      await withTimeout('every SSE stream welcomed', Promise.all(devices.map((d) => d.connect())), 30_000);
      const connected = (): boolean => devices.every((d) => d.connected) && world.lb.openConnections().length === devices.length;

      const duration = Math.round(p.phaseMs * 1.5);
      const stream = publisher.stream(targetsFor(specs), { ratePerSec: p.publishRate, durationMs: duration, padBytes: rng.int(16, 256) });
      world.lb.setLatency(rng.int(0, 15), rng.int(0, 20));
      const dropRate = Math.round(rng.next() * 30) / 100;
      world.lb.setDropRate(dropRate);
      for (const fp of sticky.values()) {
        fp.setLatency(rng.int(0, 10), rng.int(0, 20));
        fp.setDropRate(Math.round(rng.next() * 20) / 100);
      }
      let cut = 0;
      for (let r = 0; r < p.rounds; r++) {
        await delay(rng.int(Math.floor(duration / 12), Math.floor(duration / 6)));
        cut += world.lb.cut(0.3 + rng.next() * 0.7);
      }
      const victim = rng.pick(world.nodes);
      await delay(rng.int(0, Math.floor(duration / 6)));
      const onVictim = world.lb.openConnections().filter((c) => c.target.port === victim.port).length;
      await victim.kill9();
      ctx.log(`killed ${victim.id} (${onVictim} stream(s) on it)`);
      await stream;
      world.lb.setLatency(0);
      world.lb.setDropRate(0);
      for (const fp of sticky.values()) {
        fp.setLatency(0);
        fp.setDropRate(0);
      }
      await waitFor('every SSE stream open again', connected, p.deliveryTimeoutMs, 100);
      try {
        await waitFor('every acknowledged publish delivered over SSE', () => checkDelivery(publisher.records, devices.map((d) => d.rec), true).length === 0, p.deliveryTimeoutMs, 100);
      } catch (err) {
        if (!(err instanceof WaitTimeout)) throw err;
      }
      ctx.violations.push(...checkDelivery(publisher.records, devices.map((d) => d.rec)));
      for (const d of devices) {
        if (d.badEvents) ctx.violations.push({ invariant: 'scenario', detail: `${d.rec.key}: ${d.badEvents} SSE event(s) with data that is not JSON` });
        if (d.rec.stopped) ctx.violations.push({ invariant: 'scenario', detail: `${d.rec.key}: stream ended for good: ${d.rec.stopped}` });
        // An ack is of a seq this device received on its stream: never "beyond the last sent" (400).
        const bad = d.ackStatus.get(400) ?? 0;
        if (bad) ctx.violations.push({ invariant: 'scenario', detail: `${d.rec.key}: ${bad} ack POST(s) answered 400` });
      }

      // Restart the victim out of the balancer (idle baseline without clients), then put it back.
      for (const d of devices) d.close();
      const all = world.nodes.map((n) => ({ host: '127.0.0.1', port: n.port }));
      world.lb.setTargets(all.filter((t) => t.port !== victim.port));
      await victim.start();
      await victim.recordBaseline();
      world.lb.setTargets(all);

      const sum = (f: (d: SseDevice) => number): number => devices.reduce((a, d) => a + f(d), 0);
      const acks = new Map<number, number>();
      for (const d of devices) for (const [s, n] of d.ackStatus) acks.set(s, (acks.get(s) ?? 0) + n);
      const refusals = new Map<number, number>();
      for (const d of devices) for (const [s, n] of d.refusals) refusals.set(s, (refusals.get(s) ?? 0) + n);
      const fmt = (m: Map<number, number>): string => [...m].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}×${n}`).join(', ') || 'none';
      ctx.notes.push(`${devices.length} SSE devices; ${sum((d) => d.rec.delivered.length)} reliable deliveries checked; ${sum((d) => d.resumes)} resumes with Last-Event-ID; ${sum((d) => d.rec.duplicatesDropped)} repeats dropped by dedupe`);
      ctx.notes.push(`${cut} streams cut in ${p.rounds} round(s), ${Math.round(dropRate * 100)} % of reconnects dropped; killed ${victim.id} with ${onVictim} stream(s); ack POSTs by status ${fmt(acks)} (${Math.round(ackLossRate * 100)} % skipped on purpose); streams refused ${fmt(refusals)}`);
    } finally {
      for (const d of devices) d.close();
      await Promise.all([...sticky.values()].map((fp) => fp.close()));
    }
  },
};
