/**
 * Clients trying to cross tenants: the same user, device and room names in two
 * tenants must never see each other's messages (reliable or room/tenant
 * fan-out); forged tokens (wrong key, alg none), a device that does not match
 * the token, and a room outside the token's allow-list are refused.
 */
import { mintToken, openRaw, type RawConn } from '@herald/testkit';
import type { Scenario } from '../scenario.js';
import { targetsFor, uid } from '../scenario.js';
import { delay, waitFor, withTimeout } from '../wait.js';
import type { DeviceSpec } from '../clients.js';

export const crossTenant: Scenario = {
  name: 'cross-tenant',
  summary: 'twin users/devices/rooms in two tenants, forged tokens, forbidden rooms',
  async run(ctx) {
    const { world, profile: p, rng, fleet, publisher } = ctx;
    const per = Math.max(2, Math.ceil(p.devices / 4));
    const specs: DeviceSpec[] = [];
    for (const tenant of ['t1', 't2']) for (let i = 0; i < per; i++) specs.push({ tenant, user: uid(ctx, `twin${i % Math.max(1, Math.ceil(per / 2))}`), device: `d${i}`, rooms: ['lobby'] });
    for (const s of specs) fleet.add(s);
    await fleet.connectAll(30_000);
    const stream = publisher.stream(targetsFor(specs), { ratePerSec: p.publishRate, durationMs: p.phaseMs, padBytes: 32 });
    // Ephemeral fan-out to twin rooms and tenants, tagged with the tenant they are meant for.
    const eph: Promise<number>[] = [];
    for (let i = 0; i < 10; i++) {
      const tenant = rng.pick(['t1', 't2']);
      eph.push(publisher.publishEphemeral(rng.chance(0.5) ? { room: 'lobby', tenant } : { tenant }, tenant));
      await delay(rng.int(20, 200)); // spread over the stream
    }
    const ephStatus = await Promise.all(eph);
    if (ephStatus.some((s) => s !== 200)) ctx.violations.push({ invariant: 'scenario', detail: `ephemeral publishes answered ${ephStatus.join(',')}` });

    const secret = world.settings.jwtSecret;
    const attacks: { name: string; conn: RawConn; expect: number }[] = [
      { name: 'token signed with another key, claiming t2', conn: openRaw(`${world.wsUrl}?token=${mintToken(secret + 'x', { sub: uid(ctx, 'twin0'), tid: 't2', ttlSec: 600 })}`), expect: 4001 },
      { name: 'alg none token', conn: openRaw(`${world.wsUrl}?token=${mintToken(secret, { sub: uid(ctx, 'twin0'), tid: 't2', ttlSec: 600 }, 'none')}`), expect: 4001 },
      { name: 'device not matching the token did', conn: openRaw(`${world.wsUrl}?token=${mintToken(secret, { sub: uid(ctx, 'twin0'), tid: 't1', did: 'd0', ttlSec: 600 })}&device=d1`), expect: 4003 },
      { name: 'expired token', conn: openRaw(`${world.wsUrl}?token=${mintToken(secret, { sub: uid(ctx, 'twin0'), tid: 't1', ttlSec: -60 })}`), expect: 4001 },
    ];
    for (const a of attacks) {
      const r = await withTimeout(a.name, a.conn.closed, 8000).catch(() => undefined);
      if (!r || r.code !== a.expect) ctx.violations.push({ invariant: 'isolation', detail: `${a.name}: ${r ? `closed ${r.code}` : 'accepted (still open)'}, expected ${a.expect}` });
      a.conn.terminate();
    }
    // A room outside the token's allow-list.
    const limited = openRaw(`${world.wsUrl}?token=${mintToken(secret, { sub: uid(ctx, 'limited'), tid: 't1', rooms: ['ops:*'], ttlSec: 600 })}`);
    try {
      if (await limited.opened) {
        await waitFor('welcome', () => limited.messages.some((m) => m.includes('"welcome"')), 8000, 20);
        limited.send(JSON.stringify({ type: 'join', room: 'lobby', id: 'j1' }));
        limited.send(JSON.stringify({ type: 'join', room: 'ops:alerts', id: 'j2' }));
        await waitFor('both join answers', () => limited.messages.filter((m) => m.includes('"j1"') || m.includes('"j2"')).length >= 2, 8000, 20);
        const j1 = limited.messages.find((m) => m.includes('"j1"')) ?? '';
        const j2 = limited.messages.find((m) => m.includes('"j2"')) ?? '';
        if (!j1.includes('room_forbidden')) ctx.violations.push({ invariant: 'isolation', detail: `join outside the allow-list answered ${j1}` });
        if (!j2.includes('"reply"')) ctx.violations.push({ invariant: 'scenario', detail: `join inside the allow-list answered ${j2}` });
      } else ctx.violations.push({ invariant: 'scenario', detail: 'a valid allow-list token was refused' });
    } catch (err) {
      ctx.violations.push({ invariant: 'scenario', detail: `allow-list check: ${(err as Error).message}` });
    } finally {
      limited.terminate();
    }
    await stream;
    await waitFor('ephemeral fan-out seen by someone', () => fleet.recordings().some((d) => d.ephemeral.length > 0), 10_000, 100).catch(() => {
      ctx.violations.push({ invariant: 'scenario', detail: 'no device received any room/tenant message: isolation was not exercised' });
    });
    const eCount = fleet.recordings().reduce((a, d) => a + d.ephemeral.length, 0);
    ctx.notes.push(`${specs.length} twin devices in 2 tenants; ${eCount} ephemeral deliveries checked for tenant; ${attacks.length + 1} forged/forbidden attempts`);
  },
};
