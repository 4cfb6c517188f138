/**
 * Tokens expiring mid-stream: devices with a token provider refresh in band
 * and lose nothing; devices holding a static token that expires are closed
 * 4001 shortly after `exp` (heartbeat tick) and stop.
 */
import { Fleet } from '../clients.js';
import { NODE_ENV } from '../world.js';
import type { Scenario } from '../scenario.js';
import { standardDevices, targetsFor, uid } from '../scenario.js';
import { waitFor } from '../wait.js';

export const tokenExpiry: Scenario = {
  name: 'token-expiry',
  summary: 'short-lived tokens: refreshed in band by a provider, or expiring (static) mid-stream',
  async run(ctx) {
    const { world, profile: p, rng, fleet, publisher } = ctx;
    const ttl = rng.int(3, 5);
    const specs = standardDevices(ctx, Math.ceil(p.devices / 2), Math.ceil(p.users / 2), { tokenTtlSec: ttl, refreshTokens: true });
    for (const s of specs) fleet.add(s);
    const expiring = new Fleet({ url: world.wsUrl, jwtSecret: world.settings.jwtSecret, rng: rng.fork('expiring'), publishIndex: () => publisher.position() });
    const n = Math.max(3, Math.round(p.devices / 6));
    for (let i = 0; i < n; i++) expiring.add({ tenant: 't1', user: uid(ctx, `exp${i}`), device: 'e0', tokenTtlSec: ttl });
    try {
      const issued = Date.now();
      await Promise.all([fleet.connectAll(30_000), expiring.connectAll(30_000)]);
      const targets = [...targetsFor(specs), ...expiring.devices.map((d) => ({ tenant: 't1', users: [d.spec.user] }))];
      const duration = Math.max(p.phaseMs, 3 * ttl * 1000);
      const stream = publisher.stream(targets, { ratePerSec: p.publishRate, durationMs: duration, padBytes: 64 });
      const bound = ttl * 1000 + Number(NODE_ENV.HERALD_HEARTBEAT_MS) + 3000;
      try {
        await waitFor('every static-token device stopped', () => expiring.devices.every((d) => d.client.state === 'closed'), bound + 2000, 100);
      } catch {
        // reported per device below
      }
      const elapsed = Date.now() - issued;
      for (const d of expiring.devices) {
        if (d.client.state !== 'closed') ctx.violations.push({ invariant: 'scenario', detail: `${d.rec.key}: still ${d.client.state} ${elapsed} ms after a ${ttl} s token was issued` });
        else if (!d.rec.closeCodes.includes(4001)) ctx.violations.push({ invariant: 'scenario', detail: `${d.rec.key}: stopped with ${d.rec.closeCodes.join(',')}, expected 4001` });
      }
      await stream;
      await waitFor('every refreshing device connected', () => fleet.connectedCount() === fleet.devices.length, p.deliveryTimeoutMs, 100);
      const refreshedInBand = fleet.devices.filter((d) => d.rec.welcomes === 1).length;
      ctx.notes.push(`token ttl ${ttl} s over a ${duration} ms stream: ${refreshedInBand}/${fleet.devices.length} provider devices never reconnected (in-band refresh); ${n} static-token devices closed 4001`);
    } finally {
      expiring.closeAll();
    }
  },
};
