/**
 * Self-test, not part of the suite: loses a stored message on purpose (XDEL
 * from a user's inbox in Redis while the devices' traffic is stalled), so the
 * delivery invariant must report it. Proves, against the real processes, that
 * the check can fail.
 */
import type { Scenario } from '../scenario.js';
import { standardDevices, targetsFor } from '../scenario.js';
import { delay, waitFor } from '../wait.js';

/** Redis key-name escaping of tenant/user ids (see docs/scaling.md, key layout). */
const esc = (s: string): string => s.replace(/[%:{}]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0'));

export const sabotage: Scenario = {
  name: 'sabotage',
  summary: 'self-test: deletes one stored message; the delivery check must fail',
  async run(ctx) {
    const { world, fleet, publisher } = ctx;
    const specs = standardDevices(ctx, 4, 2);
    for (const s of specs) fleet.add(s);
    await fleet.connectAll(30_000);
    world.lb.stall(true);
    try {
      const victim = specs[0];
      if (!victim) throw new Error('no device');
      await publisher.stream(targetsFor(specs).filter((t) => t.device === undefined), { ratePerSec: 50, durationMs: 400 });
      const rec = publisher.records.find((r) => r.status === 200 && r.users[0] === victim.user);
      const seq = rec?.seq?.[victim.user];
      if (seq === undefined) throw new Error('no acknowledged publish to sabotage');
      const key = `${world.prefix}u{${esc(victim.tenant)}:${esc(victim.user)}}:inbox`;
      const n = await world.admin.xdel(key, `${seq}-0`);
      ctx.notes.push(`deleted seq ${seq} of ${victim.user} from ${key}: ${n}`);
      await delay(100); // keep the stall a moment
    } finally {
      world.lb.cut(1);
      world.lb.stall(false);
    }
    await waitFor('devices back', () => fleet.connectedCount() === fleet.devices.length, 20_000, 100);
  },
};
