/**
 * Runs the scenarios against one World, checking the invariants after each:
 * delivery (exactly once, in order, nothing lost), no leaked connections /
 * handles / Redis subscriptions, memory back within bounds. Always stops every
 * process it started.
 */
import { Fleet } from './clients.js';
import { checkDelivery, checkMemory, checkNodeLeaks, checkSubscriptions, type MemoryBounds, type Violation } from './invariants.js';
import { PROFILES, type Profile } from './profile.js';
import { Publisher } from './publisher.js';
import { failed, formatScenario, type RunReport, type ScenarioResult } from './report.js';
import { Rng } from './rng.js';
import type { Scenario, ScenarioContext } from './scenario.js';
import { SCENARIOS } from './scenarios/index.js';
import { delay, waitFor, withTimeout, WaitTimeout } from './wait.js';
import { World } from './world.js';

export interface RunOptions {
  profile: Profile['name'];
  seed: number;
  /** Names of scenarios to run (default: all). */
  only?: string[];
  log?: (line: string) => void;
  /** Run these scenarios instead of the suite's (self-tests). */
  scenarios?: Scenario[];
  /** Overrides the profile's wait for owed messages (the self-test expects a loss: no need to wait long). */
  deliveryTimeoutMs?: number;
  /** Known (reported) server bugs fail the run too. */
  strict?: boolean;
  /** Overrides the profile's loaded phase per scenario, ms (a short soak test). */
  phaseMs?: number;
  /** Repeat the scenario list until this much time has passed (instead of the profile's iterations): the soak. */
  durationMs?: number;
  /** Called once the World is up (the soak starts its sampler); the returned function runs before it stops. */
  attach?: (world: World) => () => Promise<void>;
}

const MEMORY: Record<Profile['name'], MemoryBounds> = {
  short: { rssFactor: 1, rssSlackBytes: 200 * 1048576, heapSlackBytes: 64 * 1048576 },
  long: { rssFactor: 1, rssSlackBytes: 320 * 1048576, heapSlackBytes: 96 * 1048576 },
  soak: { rssFactor: 1, rssSlackBytes: 320 * 1048576, heapSlackBytes: 96 * 1048576 },
};
const HANDLE_SLACK = 4;
const LEAK_WAIT_MS = 20_000;
const SCENARIO_CAP_MS: Record<Profile['name'], number> = { short: 90_000, long: 600_000, soak: 600_000 };

export function selectScenarios(only: string[] | undefined): Scenario[] {
  if (!only || only.length === 0) return SCENARIOS;
  const unknown = only.filter((n) => !SCENARIOS.some((s) => s.name === n));
  if (unknown.length) throw new Error(`unknown scenario(s): ${unknown.join(', ')}; known: ${SCENARIOS.map((s) => s.name).join(', ')}`);
  return SCENARIOS.filter((s) => only.includes(s.name));
}

export async function runStress(o: RunOptions): Promise<RunReport> {
  const profile: Profile = { ...PROFILES[o.profile], ...(o.deliveryTimeoutMs !== undefined ? { deliveryTimeoutMs: o.deliveryTimeoutMs } : {}), ...(o.phaseMs !== undefined ? { phaseMs: o.phaseMs } : {}) };
  const log = o.log ?? ((l: string) => process.stdout.write(l + '\n'));
  const scenarios = o.scenarios ?? selectScenarios(o.only);
  const root = new Rng(o.seed);
  const started = Date.now();
  const world = new World(profile, root.fork('world'));
  const results: ScenarioResult[] = [];
  const peakRss = new Map<string, number>();
  const report: RunReport = { seed: o.seed, profile: profile.name, startedAt: new Date(started).toISOString(), durationMs: 0, scenarios: results, memory: [], ok: false, strict: o.strict ?? false };
  log(`herald stress: profile ${profile.name}, seed ${o.seed}, ${profile.nodes} nodes${profile.workers >= 2 ? ` (the last with --workers ${profile.workers})` : ''}, scenarios: ${scenarios.map((s) => s.name).join(', ')}`);
  let detach: (() => Promise<void>) | undefined;
  try {
    await world.start();
    const first = new Map(world.nodes.map((n) => [n.id, n.baseline]));
    detach = o.attach?.(world);
    const more = (it: number): boolean => (o.durationMs !== undefined ? Date.now() - started < o.durationMs : it < profile.iterations);
    for (let it = 0; more(it); it++) {
      for (const sc of scenarios) {
        const r = await runOne(world, sc, it, root.fork(`${it}:${sc.name}`), profile, log, peakRss);
        results.push(r);
        log(formatScenario(r, o.seed));
      }
    }
    for (const n of world.nodes) {
      const b = first.get(n.id) ?? n.baseline;
      const h = await n.health().catch(() => undefined);
      if (!b || !h) continue;
      const mib = (x: number): number => Math.round((x / 1048576) * 10) / 10;
      report.memory.push({ node: n.id, baselineRssMiB: mib(b.rss), finalRssMiB: mib(h.rss), peakRssMiB: mib(peakRss.get(n.id) ?? h.rss), baselineHeapMiB: mib(b.heapUsed), finalHeapMiB: mib(h.heapUsed) });
    }
  } finally {
    await detach?.();
    await world.stop();
  }
  report.durationMs = Date.now() - started;
  report.ok = results.length > 0 && results.every((r) => !failed(r, report.strict));
  return report;
}

async function runOne(world: World, sc: Scenario, iteration: number, rng: Rng, profile: Profile, log: (l: string) => void, peakRss: Map<string, number>): Promise<ScenarioResult> {
  const t0 = Date.now();
  const publisher = new Publisher(world.settings.apiKey, rng.fork('publisher'), () => world.liveNodes().map((n) => n.port));
  const fleet = new Fleet({ url: world.wsUrl, jwtSecret: world.settings.jwtSecret, rng: rng.fork('fleet'), publishIndex: () => publisher.position(), binaryShare: profile.binaryShare });
  const ctx: ScenarioContext = { world, profile, rng, fleet, publisher, violations: [], notes: [], ns: `i${iteration}-${sc.name}-${rng.u32().toString(36)}`, log: (m) => log(`  [${sc.name}] ${m}`) };
  const result: ScenarioResult = { name: sc.name, iteration, durationMs: 0, publishes: publisher.summary(), delivered: 0, devices: 0, notes: ctx.notes, violations: ctx.violations };
  const sampler = setInterval(() => {
    for (const n of world.liveNodes()) {
      try {
        peakRss.set(n.id, Math.max(peakRss.get(n.id) ?? 0, n.rssBytes()));
      } catch {
        // the process is exiting
      }
    }
  }, 500);
  try {
    await restore(world, sc);
    const subsBefore = await world.subscriptions();
    const codesBefore = await closeCodes(world);
    await withTimeout(`scenario ${sc.name}`, sc.run(ctx), SCENARIO_CAP_MS[profile.name]);
    // Everything owed must arrive once the faults are over.
    try {
      await waitFor('every acknowledged publish delivered', () => checkDelivery(publisher.records, fleet.recordings(), true).length === 0, profile.deliveryTimeoutMs, 100);
    } catch (err) {
      if (!(err instanceof WaitTimeout)) throw err;
    }
    ctx.violations.push(...checkDelivery(publisher.records, fleet.recordings()));
    fleet.closeAll();
    if (fleet.devices.length) ctx.notes.push(`SDK devices on binary v2: ${fleet.binaryCount()} of ${fleet.devices.length}`);
    ctx.violations.push(...(await leaksSettled(world, subsBefore)));
    const codesAfter = await closeCodes(world);
    const delta = [...codesAfter].map(([c, n]) => [c, n - (codesBefore.get(c) ?? 0)] as const).filter(([, n]) => n > 0);
    if (delta.length) ctx.notes.push(`server close codes: ${delta.map(([c, n]) => `${c}×${n}`).join(', ')}`);
    ctx.violations.push(...(await memorySettled(world, profile)));
  } catch (err) {
    result.error = err instanceof Error ? err.message : String(err);
  } finally {
    clearInterval(sampler);
    fleet.closeAll();
  }
  result.durationMs = Date.now() - t0;
  result.publishes = publisher.summary();
  result.devices = fleet.devices.length;
  result.delivered = fleet.recordings().reduce((a, d) => a + d.delivered.length, 0);
  return result;
}

/** Undo what a failed scenario may have left: proxies clean, Redis and every node up. */
async function restore(world: World, next: Scenario): Promise<void> {
  for (const p of [world.lb, world.redisProxy]) {
    p.setLatency(0);
    p.setRefuse(false);
    p.setDropRate(0);
    p.stall(false);
  }
  if (!world.redis.isRunning()) await world.redis.spawn();
  if (!next.reconfigures) await world.resetConfiguration();
  for (const n of world.nodes) {
    if (!n.isRunning()) {
      await n.start();
      await n.recordBaseline();
    }
  }
  await waitFor('every node ready', async () => (await Promise.all(world.nodes.map((n) => n.health()))).every((h) => h.engineUp), 30_000, 100);
}

/** Connections closed per close code, summed over the nodes (admin feed; a restarted node starts from 0). */
async function closeCodes(world: World): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const n of world.liveNodes()) {
    const h = await n.health().catch(() => undefined);
    for (const [c, k] of Object.entries(h?.disconnectsByCode ?? {})) out.set(c, (out.get(c) ?? 0) + k);
  }
  return out;
}

async function leaksSettled(world: World, subsBefore: Record<string, number>): Promise<Violation[]> {
  let last: Violation[] = [];
  try {
    await waitFor('connections, handles and subscriptions back to baseline', async () => {
      const v: Violation[] = [];
      for (const n of world.nodes) {
        if (!n.baseline) continue;
        v.push(...checkNodeLeaks(n.id, n.baseline, await n.health(), { handleSlack: HANDLE_SLACK * n.processes }));
      }
      v.push(...checkSubscriptions(subsBefore, await world.subscriptions()));
      last = v;
      return v.length === 0;
    }, LEAK_WAIT_MS, 250);
    return [];
  } catch (err) {
    if (err instanceof WaitTimeout) return last.length ? last : [{ invariant: 'leak', detail: err.message }];
    throw err;
  }
}

async function memorySettled(world: World, profile: Profile): Promise<Violation[]> {
  await delay(profile.settleMs); // let the nodes idle (GC, freed buffers) before measuring
  let last: Violation[] = [];
  try {
    await waitFor('memory back within bounds', async () => {
      const v: Violation[] = [];
      for (const n of world.nodes) if (n.baseline) v.push(...checkMemory(n.id, n.baseline, await n.health(), MEMORY[profile.name], n.processes));
      last = v;
      return v.length === 0;
    }, 15_000, 500);
    return [];
  } catch (err) {
    if (err instanceof WaitTimeout) return last;
    throw err;
  }
}
