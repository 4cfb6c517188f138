/**
 * Slow consumers: apps that ack late (server resends, the SDK dedupes), and a
 * device whose socket stops reading (throttled at the proxy) while big messages
 * pile up for it: the server must cap its buffer (4009), not grow, and the
 * device must still get everything once it reads again.
 */
import { FaultProxy } from '../faultProxy.js';
import type { Scenario } from '../scenario.js';
import { standardDevices, targetsFor, uid } from '../scenario.js';
import { delay, waitFor } from '../wait.js';

export const slowConsumers: Scenario = {
  name: 'slow-consumers',
  summary: 'late acks (resends) and a device that stops reading while 48 KB messages pile up',
  async run(ctx) {
    const { world, profile: p, rng, fleet, publisher } = ctx;
    const specs = standardDevices(ctx).map((s, i) => (i % 2 === 0 ? { ...s, ackDelayMaxMs: 2500 } : s));
    for (const s of specs) fleet.add(s);
    const node = rng.pick(world.nodes);
    const hogUser = uid(ctx, 'hog');
    const hogProxy = new FaultProxy('hog', [{ host: '127.0.0.1', port: node.port }], rng.fork('hog-proxy'));
    await hogProxy.listen();
    try {
      fleet.add({ tenant: 't1', user: hogUser, device: 'h0', url: `ws://127.0.0.1:${hogProxy.port}/ws`, heartbeatTimeoutMs: 60_000 });
      await fleet.connectAll(30_000);
      const before = (await node.health()).disconnectsByCode['4009'] ?? 0;
      const stream = publisher.stream(targetsFor(specs), { ratePerSec: p.publishRate, durationMs: p.phaseMs, padBytes: rng.int(64, 1024) });
      for (const c of hogProxy.openConnections()) hogProxy.throttle(c, true);
      const big = Math.round((p.name === 'long' ? 400 : 200) * (0.75 + rng.next() / 2));
      await publisher.stream([{ tenant: 't1', users: [hogUser] }], { ratePerSec: 200, durationMs: (big / 200) * 1000, padBytes: 48 * 1024, concurrency: 8 });
      let closed = false;
      try {
        await waitFor(`${node.id} closes the stalled device 4009`, async () => ((await node.health()).disconnectsByCode['4009'] ?? 0) > before, 10_000, 200);
        closed = true;
      } catch {
        // noted below: kernel buffers may have absorbed the burst
      }
      await delay(rng.int(200, 1000)); // stay stalled a little longer
      for (const c of hogProxy.openConnections()) hogProxy.throttle(c, false);
      await stream;
      ctx.notes.push(`${big} × 48 KB to a stalled device: ${closed ? 'closed 4009 (slow consumer)' : 'no 4009 (buffers absorbed it)'}; late-ack devices: ${specs.filter((s) => s.ackDelayMaxMs).length}`);
      await waitFor('every device connected', () => fleet.connectedCount() === fleet.devices.length, p.deliveryTimeoutMs, 100);
      await waitFor('the stalled device caught up', () => {
        const hog = fleet.devices.find((d) => d.spec.user === hogUser);
        const owed = publisher.records.filter((r) => r.status === 200 && r.users[0] === hogUser).length;
        return hog !== undefined && hog.rec.delivered.length >= owed;
      }, p.deliveryTimeoutMs, 200);
    } finally {
      fleet.devices.find((d) => d.spec.user === hogUser)?.close();
      await hogProxy.close();
    }
  },
};
