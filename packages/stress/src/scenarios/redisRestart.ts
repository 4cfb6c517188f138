/** Redis killed with SIGKILL mid-stream and restarted (AOF always): acknowledged messages survive, nodes resubscribe. */
import type { Scenario } from '../scenario.js';
import { standardDevices, targetsFor } from '../scenario.js';
import { delay, waitFor } from '../wait.js';

export const redisRestart: Scenario = {
  name: 'redis-restart',
  summary: 'kill -9 of redis-server mid-stream, restart after a seeded pause',
  async run(ctx) {
    const { world, profile: p, rng, fleet, publisher } = ctx;
    const specs = standardDevices(ctx);
    for (const s of specs) fleet.add(s);
    await fleet.connectAll(30_000);
    const stream = publisher.stream(targetsFor(specs), { ratePerSec: p.publishRate, durationMs: p.phaseMs, padBytes: rng.int(16, 256) });
    await delay(rng.int(Math.floor(p.phaseMs / 5), Math.floor(p.phaseMs / 3)));
    await world.redis.kill();
    const down = rng.int(500, 2500);
    await delay(down); // Redis stays down this long
    await world.redis.spawn();
    await stream;
    await waitFor('every node ready again', async () => (await Promise.all(world.nodes.map((n) => n.health()))).every((h) => h.engineUp), 30_000, 100);
    await waitFor('every device connected', () => fleet.connectedCount() === fleet.devices.length, p.deliveryTimeoutMs, 100);
    const s = publisher.summary();
    ctx.notes.push(`redis down ${down} ms; publishes answered 5xx: ${s.s5xx}, unanswered: ${s.noAnswer}`);
  },
};
