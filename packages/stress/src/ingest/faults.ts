/**
 * The faults of the ingest scenario, each on its own seeded schedule within
 * the loaded phase: consumer nodes killed with SIGKILL and restarted, and per
 * broker its connections cut, stalled (a black hole, then released or cut) or
 * refused for a while at the scenario's fault proxy.
 */
import type { FaultProxy } from '../faultProxy.js';
import type { Rng } from '../rng.js';
import { delay } from '../wait.js';
import type { World } from '../world.js';

export type BrokerFault = 'cut' | 'stall' | 'refuse';

/**
 * Kills a node `rounds` times at seeded moments (one at a time) and restarts it after a seeded
 * pause. Resolves after the last kill, with the last restart still running (`restarted`): it
 * overlaps the settling of the run instead of lengthening the loaded phase.
 */
export async function killNodes(world: World, rng: Rng, rounds: number, phaseMs: number, log: (m: string) => void): Promise<{ kills: string[]; restarted: Promise<void> }> {
  const kills: string[] = [];
  const slot = Math.floor(phaseMs / rounds);
  const t0 = Date.now();
  let restarted = Promise.resolve();
  for (let r = 0; r < rounds; r++) {
    await restarted;
    const at = r * slot + rng.int(Math.floor(slot / 5), Math.floor((slot * 3) / 5));
    await delay(Math.max(0, t0 + at - Date.now()));
    const victim = rng.pick(world.nodes);
    await victim.kill9();
    const down = rng.int(300, 1500);
    log(`killed ${victim.id}; restart in ${down} ms`);
    await delay(down);
    restarted = restart(world, victim);
    // Never an unhandled rejection while it runs unawaited; the caller awaits it and sees the error.
    restarted.catch(() => undefined);
    kills.push(`${victim.id} (down ${down} ms)`);
  }
  return { kills, restarted };
}

/** Restarted out of the balancer, so its idle baseline is measured without clients (as node-kill does). */
async function restart(world: World, victim: World['nodes'][number]): Promise<void> {
  const all = world.nodes.map((n) => ({ host: '127.0.0.1', port: n.port }));
  world.lb.setTargets(all.filter((t) => t.port !== victim.port));
  try {
    // NATS and PostgreSQL must answer a node's first connect (docs/ingest.md): a restart that lands
    // in a broker fault exits 1, and is started again, as its supervisor would.
    for (let attempt = 1; ; attempt++) {
      try {
        await victim.start();
        break;
      } catch (err) {
        if (attempt >= 4 || !/ exited with /.test((err as Error).message)) throw err;
        await delay(500);
      }
    }
    await victim.recordBaseline();
  } finally {
    world.lb.setTargets(all);
  }
}

/** `rounds` seeded faults on one broker's proxy; returns what was done. Leaves the proxy clean. */
export async function breakBroker(proxy: FaultProxy, rng: Rng, rounds: number, phaseMs: number): Promise<string[]> {
  const done: string[] = [];
  const slot = Math.floor(phaseMs / rounds);
  const t0 = Date.now();
  try {
    for (let r = 0; r < rounds; r++) {
      const at = r * slot + rng.int(0, Math.floor(slot / 3));
      await delay(Math.max(0, t0 + at - Date.now()));
      const kind = rng.pick<BrokerFault>(['cut', 'stall', 'refuse']);
      if (kind === 'cut') {
        done.push(`cut ${proxy.cut(1)}`);
      } else if (kind === 'stall') {
        // Up to past the sources' timeouts (3 s, AMQP heartbeat 2 s): sometimes noticed, sometimes not.
        const ms = rng.int(500, 5000);
        const thenCut = rng.chance(0.5);
        proxy.stall(true);
        await delay(ms);
        const n = thenCut ? proxy.cut(1) : 0;
        proxy.stall(false);
        done.push(thenCut ? `stalled ${ms} ms, then cut ${n}` : `stalled ${ms} ms`);
      } else {
        const ms = rng.int(500, 2500);
        proxy.setRefuse(true);
        const n = proxy.cut(1);
        await delay(ms);
        proxy.setRefuse(false);
        done.push(`cut ${n}, refused ${ms} ms`);
      }
    }
  } finally {
    proxy.stall(false);
    proxy.setRefuse(false);
  }
  return done;
}

/** Redis (the engine) unreachable once, for a seeded 0.5–2 s: every source's publishes fail transiently and are retried. */
export async function redisOutage(world: World, rng: Rng, phaseMs: number): Promise<string> {
  await delay(rng.int(Math.floor(phaseMs / 4), Math.floor((phaseMs * 3) / 4)));
  const ms = rng.int(500, 2000);
  world.redisProxy.setRefuse(true);
  const n = world.redisProxy.cut(1);
  try {
    await delay(ms);
  } finally {
    world.redisProxy.setRefuse(false);
  }
  return `Redis unreachable ${ms} ms (${n} connections cut)`;
}
