/** Every client connection cut at once, several times, under load and latency: all reconnect together and resume. */
import type { Scenario } from '../scenario.js';
import { standardDevices, targetsFor } from '../scenario.js';
import { delay, waitFor } from '../wait.js';

export const reconnectStorm: Scenario = {
  name: 'reconnect-storm',
  summary: 'all clients cut at once (repeatedly) while publishing, with proxy latency',
  async run(ctx) {
    const { world, profile: p, rng, fleet, publisher } = ctx;
    const specs = standardDevices(ctx);
    for (const s of specs) fleet.add(s);
    await fleet.connectAll(30_000);
    world.lb.setLatency(rng.int(0, 20), rng.int(0, 30));
    // Reconnects meet a lossy network: a seeded share of new connections is reset at accept.
    const dropRate = Math.round(rng.next() * 30) / 100;
    world.lb.setDropRate(dropRate);
    const stream = publisher.stream(targetsFor(specs), { ratePerSec: p.publishRate, durationMs: p.phaseMs, padBytes: rng.int(16, 256) });
    const slot = Math.floor(p.phaseMs / (p.rounds + 1));
    let cut = 0;
    for (let r = 0; r < p.rounds; r++) {
      await delay(rng.int(Math.floor(slot / 2), slot)); // fault timing, seeded
      cut += world.lb.cut(1);
    }
    await stream;
    world.lb.setLatency(0);
    world.lb.setDropRate(0);
    await waitFor('every device reconnected', () => fleet.connectedCount() === fleet.devices.length, p.deliveryTimeoutMs, 100);
    ctx.notes.push(`${cut} connections cut in ${p.rounds} storm(s); ${Math.round(dropRate * 100)} % of new connections dropped (${world.lb.stats.dropped} so far)`);
  },
};
