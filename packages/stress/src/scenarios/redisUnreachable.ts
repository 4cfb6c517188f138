/** Redis unreachable for 10 s (connections cut, new ones refused, at the proxy): 503s, /readyz 503, then full recovery. */
import { httpRequest } from '../http.js';
import type { Scenario } from '../scenario.js';
import { standardDevices, targetsFor } from '../scenario.js';
import { delay, waitFor } from '../wait.js';

const OUTAGE_MS = 10_000;

export const redisUnreachable: Scenario = {
  name: 'redis-unreachable',
  summary: 'Redis unreachable for 10 s behind the fault proxy while publishing',
  async run(ctx) {
    const { world, profile: p, rng, fleet, publisher } = ctx;
    const specs = standardDevices(ctx);
    for (const s of specs) fleet.add(s);
    await fleet.connectAll(30_000);
    const targets = targetsFor(specs);
    const before = publisher.stream(targets, { ratePerSec: p.publishRate, durationMs: rng.int(500, 1500) });
    await before;
    world.redisProxy.setRefuse(true);
    const cut = world.redisProxy.cut(1);
    const outageStart = Date.now();
    const during = publisher.stream(targets, { ratePerSec: Math.max(5, p.publishRate / 4), durationMs: OUTAGE_MS - 1000 });
    // /readyz must report the outage on every node.
    for (const n of world.nodes) {
      try {
        await waitFor(`${n.id} /readyz 503 during the outage`, async () => (await httpRequest(n.port, 'GET', '/readyz', { timeoutMs: 2000 })).status === 503, 5000, 100);
      } catch (err) {
        ctx.violations.push({ invariant: 'scenario', detail: (err as Error).message });
      }
    }
    await during;
    await delay(Math.max(0, OUTAGE_MS - (Date.now() - outageStart))); // the outage lasts 10 s
    world.redisProxy.setRefuse(false);
    const recovering = publisher.stream(targets, { ratePerSec: p.publishRate, durationMs: p.phaseMs / 2 });
    await waitFor('every node ready again', async () => (await Promise.all(world.nodes.map((n) => n.health()))).every((h) => h.engineUp), 30_000, 100);
    await recovering;
    await waitFor('every device connected', () => fleet.connectedCount() === fleet.devices.length, p.deliveryTimeoutMs, 100);
    const s = publisher.summary();
    if (s.s5xx === 0) ctx.violations.push({ invariant: 'scenario', detail: 'no publish was refused during a 10 s Redis outage (it cannot have been stored)' });
    ctx.notes.push(`${cut} Redis connections cut; 5xx during outage: ${s.s5xx}, unanswered: ${s.noAnswer}`);
  },
};
