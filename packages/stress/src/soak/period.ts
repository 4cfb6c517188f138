/**
 * One soak period: a mixed, realistic load on the World with faults at seeded
 * times, after which the runner checks every invariant (delivery exactly once
 * and in order, isolation, no leaked connections/handles/subscriptions, memory
 * within bounds) as it does after any scenario. The soak repeats it until its
 * duration is over, so the invariants are checked once per period.
 *
 * Load: `devices` SDK devices (a seeded share on binary v2) of `users` users,
 * each in one of a few rooms; 80 % connect at the start, the rest join during
 * the first half (connect churn); reliable publishes at `publishRate`/s to
 * users and user+device; ephemeral unicast and room messages at ~5/s; every
 * few seconds a seeded 5–15 % of client connections is cut (they reconnect and
 * resume). At the end every device closes (disconnect churn): the next period
 * starts a new fleet under new user ids.
 *
 * Faults (`rounds` per period, kinds rotating over the periods so each recurs
 * all hour, parameters seeded): kill -9 of a node and its restart, every
 * node↔Redis connection cut, Redis latency, a Redis stall, a client storm.
 */
import type { Scenario, ScenarioContext } from '../scenario.js';
import { standardDevices, targetsFor, uid } from '../scenario.js';
import { delay } from '../wait.js';
import type { HeraldProcess } from '../cluster.js';
import type { DeviceSpec } from '../clients.js';

export const FAULT_KINDS = ['node-kill', 'redis-cut', 'redis-latency', 'client-storm', 'redis-stall'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** A fault the soak injected: when (ms since the period began) and what. */
export interface FaultMark {
  at: number;
  kind: FaultKind;
  detail: string;
}

/** Faults of every period, for the soak's report and chart (wall-clock ms). */
export const faultLog: { at: number; kind: FaultKind; detail: string }[] = [];

const ROOMS = 6;

export const soakPeriod: Scenario = {
  name: 'soak-period',
  summary: 'mixed load (v1+v2, reliable, unicast, rooms, churn) with rotating faults; repeated for the soak',
  async run(ctx) {
    const { profile: p, rng, fleet, publisher } = ctx;
    const period = Number(/^i(\d+)-/.exec(ctx.ns)?.[1] ?? 0);
    const specs = standardDevices(ctx).map((s, i) => ({ ...s, rooms: [uid(ctx, `room${i % ROOMS}`)] }));
    const early = specs.filter(() => rng.chance(0.8));
    const late = specs.filter((s) => !early.includes(s));
    for (const s of early) fleet.add(s);
    await fleet.connectAll(60_000, 10);
    const t0 = Date.now();
    let over = false;
    const jobs: Promise<unknown>[] = [];
    const marks: FaultMark[] = [];
    const count = { ephemeral: 0, ephemeralFailed: 0, churnCuts: 0 };
    try {
      // Reliable traffic for the whole phase.
      jobs.push(publisher.stream(targetsFor(specs), { ratePerSec: p.publishRate, durationMs: p.phaseMs, padBytes: rng.int(16, 512), concurrency: 12, stop: () => over }));
      jobs.push(lateJoiners(ctx, late, () => over));
      jobs.push(ephemeralTraffic(ctx, specs, count, () => over));
      // Transport churn: a small share of client connections cut every few seconds.
      jobs.push(
        (async () => {
          const cRng = rng.fork('churn');
          while (!over) {
            await delay(cRng.int(4000, 9000));
            if (!over) count.churnCuts += ctx.world.lb.cut(cRng.int(5, 15) / 100);
          }
        })(),
      );
      // Faults at seeded offsets in [10 %, 75 %] of the phase, one after another.
      const offsets = Array.from({ length: p.rounds }, () => rng.int(Math.floor(p.phaseMs * 0.1), Math.floor(p.phaseMs * 0.75))).sort((x, y) => x - y);
      for (let j = 0; j < offsets.length; j++) {
        const wait = t0 + offsets[j]! - Date.now();
        if (wait > 0) await delay(wait);
        const kind = FAULT_KINDS[(period * p.rounds + j) % FAULT_KINDS.length]!;
        const detail = await inject(ctx, kind);
        const mark = { at: Date.now() - t0, kind, detail };
        marks.push(mark);
        faultLog.push({ ...mark, at: Date.now() });
        ctx.log(`${kind}: ${detail}`);
      }
      await jobs[0];
    } finally {
      // Also when a fault failed (a restart timed out): no loop of this period may outlive it.
      over = true;
      await Promise.allSettled(jobs);
    }
    ctx.notes.push(`faults: ${marks.map((m) => `${(m.at / 1000).toFixed(0)} s ${m.kind} (${m.detail})`).join('; ')}`);
    ctx.notes.push(`${early.length} devices at start, ${late.length} joined later; ${count.churnCuts} client connections cut for churn; ${count.ephemeral} ephemeral publishes (${count.ephemeralFailed} not 200)`);
  },
};

/** The devices that were not there at the start join over the first half of the phase. */
async function lateJoiners(ctx: ScenarioContext, late: DeviceSpec[], over: () => boolean): Promise<void> {
  const { rng, fleet, profile: p } = ctx;
  for (const s of late) {
    if (over()) return;
    await delay(rng.int(0, Math.floor(p.phaseMs / 2 / Math.max(1, late.length))));
    if (over()) return;
    const d = fleet.add(s);
    await d.connect().catch((err: unknown) => ctx.violations.push({ invariant: 'scenario', detail: `late joiner ${s.user}/${s.device} could not connect: ${String(err)}` }));
  }
}

/** Ephemeral unicast (`reliable: false`) and room messages, ~5/s, tagged with the tenant. */
async function ephemeralTraffic(ctx: ScenarioContext, specs: DeviceSpec[], count: { ephemeral: number; ephemeralFailed: number }, over: () => boolean): Promise<void> {
  const eRng = ctx.rng.fork('ephemeral');
  while (!over()) {
    await delay(200);
    const s = eRng.pick(specs);
    const to = eRng.chance(0.5) ? { tenant: s.tenant, user: s.user } : { tenant: s.tenant, room: s.rooms?.[0] };
    const st = await ctx.publisher.publishEphemeral(to, s.tenant);
    count.ephemeral++;
    if (st !== 200) count.ephemeralFailed++;
  }
}

/** Injects one fault and undoes it (a killed node is restarted, out of the balancer while it records its idle baseline). */
async function inject(ctx: ScenarioContext, kind: FaultKind): Promise<string> {
  const { world, rng } = ctx;
  switch (kind) {
    case 'node-kill': {
      const victim = rng.pick(world.liveNodes());
      await victim.kill9();
      const down = rng.int(2000, 8000);
      await delay(down);
      await restartOutOfBalancer(ctx, victim);
      return `${victim.id}${victim.workers >= 2 ? ` (--workers ${victim.workers}, whole group)` : ''}, down ${down} ms`;
    }
    case 'redis-cut': {
      const n = world.redisProxy.cut();
      return `${n} node↔Redis connections cut`;
    }
    case 'redis-latency': {
      const ms = rng.int(10, 60);
      const jitter = rng.int(0, 30);
      const dur = rng.int(8000, 20_000);
      world.redisProxy.setLatency(ms, jitter);
      await delay(dur);
      world.redisProxy.setLatency(0);
      return `${ms} ± ${jitter} ms for ${dur} ms`;
    }
    case 'client-storm': {
      const n = world.lb.cut();
      return `${n} client connections cut at once`;
    }
    case 'redis-stall': {
      const dur = rng.int(1000, 4000);
      world.redisProxy.stall(true);
      await delay(dur);
      world.redisProxy.stall(false);
      return `node↔Redis bytes held for ${dur} ms`;
    }
  }
}

async function restartOutOfBalancer(ctx: ScenarioContext, victim: HeraldProcess): Promise<void> {
  const { world } = ctx;
  const all = world.nodes.map((n) => ({ host: '127.0.0.1', port: n.port }));
  world.lb.setTargets(all.filter((t) => t.port !== victim.port));
  try {
    await victim.start();
    // Best effort: API publishes reach it meanwhile, so its handle count may not settle; the old baseline stays then.
    await victim.recordBaseline().catch(() => undefined);
  } finally {
    world.lb.setTargets(all);
  }
}
