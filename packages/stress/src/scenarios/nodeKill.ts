/** kill -9 of a node mid-stream: its devices fail over through the balancer and resume; nothing acknowledged is lost. */
import type { Scenario } from '../scenario.js';
import { standardDevices, targetsFor } from '../scenario.js';
import { delay, waitFor } from '../wait.js';

export const nodeKill: Scenario = {
  name: 'node-kill',
  summary: 'kill -9 of one node mid-stream, then restart it',
  async run(ctx) {
    const { world, profile: p, rng, fleet, publisher } = ctx;
    const specs = standardDevices(ctx);
    for (const s of specs) fleet.add(s);
    await fleet.connectAll(30_000);
    const victim = rng.pick(world.nodes);
    // Redis a little slow and jittery meanwhile (node ↔ Redis through the fault proxy).
    world.redisProxy.setLatency(rng.int(0, 5), rng.int(0, 10));
    const stream = publisher.stream(targetsFor(specs), { ratePerSec: p.publishRate, durationMs: p.phaseMs, padBytes: rng.int(16, 256) });
    await delay(rng.int(Math.floor(p.phaseMs / 4), Math.floor(p.phaseMs / 2)));
    await victim.kill9();
    ctx.log(`killed ${victim.id} (pid gone)`);
    await stream;
    world.redisProxy.setLatency(0);
    await waitFor('every device reconnected to a live node', () => fleet.connectedCount() === fleet.devices.length, p.deliveryTimeoutMs, 100);
    // Restart out of the balancer so its idle baseline is measured without clients, then put it back.
    const all = world.nodes.map((n) => ({ host: '127.0.0.1', port: n.port }));
    world.lb.setTargets(all.filter((t) => t.port !== victim.port));
    await victim.start();
    await victim.recordBaseline();
    world.lb.setTargets(all);
    ctx.notes.push(`killed ${victim.id}; publishes without an answer (in flight to it): ${publisher.summary().noAnswer}`);
  },
};
