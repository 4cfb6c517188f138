/**
 * Ingest from RabbitMQ, NATS JetStream and a PostgreSQL outbox (the machine's
 * real services, names unique to the run) while consumer nodes are killed -9
 * and restarted and each broker's connections are cut, stalled and refused at
 * a fault proxy between the nodes and the broker. Seeded producers write valid
 * entries to the fleet's users and devices, poison entries of every kind, and
 * (PostgreSQL) transactions they roll back.
 *
 * Invariants (ingestInvariants.ts, then the suite's delivery check): every
 * confirmed valid entry stored exactly once per target user (one seq), and
 * delivered to the devices; poison entries dead-lettered exactly once with the
 * documented reason; nothing else stored or dead-lettered; nothing left in the
 * brokers; every source reconnected (/readyz).
 */
import { randomBytes } from 'node:crypto';
import { FaultProxy } from '../faultProxy.js';
import { httpRequest, metricSum } from '../http.js';
import { checkIngest, ingestPublishRecords } from '../ingestInvariants.js';
import { AmqpBroker } from '../ingest/amqpBroker.js';
import { bestEffort, type Broker } from '../ingest/broker.js';
import type { DeadLetterRecord, IngestEntry, StoredEntry } from '../ingest/entries.js';
import { breakBroker, killNodes, redisOutage } from '../ingest/faults.js';
import { readInboxes } from '../ingest/inboxes.js';
import { NatsBroker } from '../ingest/natsBroker.js';
import { PgBroker } from '../ingest/pgBroker.js';
import { produce, type ProduceStats } from '../ingest/producer.js';
import { Workload } from '../ingest/workload.js';
import type { Scenario, ScenarioContext } from '../scenario.js';
import { standardDevices } from '../scenario.js';
import { WaitTimeout, waitFor } from '../wait.js';

/** Publish ids of ingest entries start here (far above the HTTP publisher's). */
const PID_BASE = 10_000_000;

export const ingest: Scenario = {
  name: 'ingest',
  summary: 'RabbitMQ, NATS and PostgreSQL ingest while consumer nodes are killed and broker connections cut, stalled and refused',
  reconfigures: true,
  async run(ctx) {
    const { world, profile: p, rng, fleet } = ctx;
    const tag = randomBytes(4).toString('hex');
    const t0 = Date.now();
    const at = (what: string): void => ctx.log(`${what} at ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const brokers: Broker[] = [new AmqpBroker(tag), new NatsBroker(tag), new PgBroker(tag)];
    const proxies: FaultProxy[] = [];
    try {
      // One at a time (in order) or several at once: two code paths of every source, seeded.
      const concurrency = String(rng.pick([1, 4]));
      const env: Record<string, string> = { HERALD_INGEST_AMQP_CONCURRENCY: concurrency, HERALD_INGEST_NATS_CONCURRENCY: concurrency, HERALD_INGEST_PG_CONCURRENCY: concurrency };
      for (const b of brokers) {
        const px = new FaultProxy(`ingest-${b.kind}`, [b.upstream], rng.fork(`proxy-${b.kind}`));
        await px.listen();
        proxies.push(px);
        Object.assign(env, b.nodeEnv(px.port));
      }
      await world.reconfigure(env);
      await waitSourcesConnected(ctx, 15_000);
      at('nodes reconfigured');
      for (const b of brokers) await b.open();

      const specs = standardDevices(ctx);
      for (const s of specs) fleet.add(s);
      await fleet.connectAll(30_000);

      const workloads = brokers.map((b, i) => new Workload(b.kind, specs, rng.fork(`entries-${b.kind}`), PID_BASE + i * 1_000_000));
      const phaseMs = p.phaseMs + 2000;
      const opts = { ratePerSec: Math.max(5, p.publishRate / 4), durationMs: phaseMs, poisonShare: 0.04, rollbackShare: 0.1, retryShare: 0.05 };
      const [produced, { kills, restarted }, redis, ...brokerFaults] = await Promise.all([
        Promise.all(brokers.map((b, i) => produce(b, workloads[i]!, rng.fork(`produce-${b.kind}`), opts))),
        killNodes(world, rng.fork('kills'), Math.max(1, p.rounds - 1), phaseMs, ctx.log),
        redisOutage(world, rng.fork('redis'), phaseMs),
        ...brokers.map((b, i) => breakBroker(proxies[i]!, rng.fork(`faults-${b.kind}`), p.rounds, phaseMs)),
      ]);
      const entries = workloads.flatMap((w) => w.entries);
      at('produced');

      // Everything produced must be consumed: stored, or dead-lettered; nothing left in the brokers.
      const users = [...new Map(specs.map((s) => [`${s.tenant}/${s.user}`, { tenant: s.tenant, user: s.user }])).values()];
      const settled = await settle(ctx, brokers, entries, users);
      at('settled');
      await restarted;
      await waitSourcesConnected(ctx, 15_000);

      // The outcome once it no longer changes (a late redelivery would show as a second copy).
      const final = await stableOutcome(ctx, brokers, users);
      const redelivered = await sourceCounter(ctx, 'herald_ingest_source_redelivered_total');
      // RabbitMQ dead letters the broker neither confirmed nor refused: each may be one too many (docs/ingest.md#rabbitmq).
      const unconfirmedDead = await sourceCounter(ctx, 'herald_ingest_source_dead_letter_unconfirmed_total');
      at('outcome read');
      const killed = kills.map((k) => k.split(' ')[0]!);
      ctx.violations.push(...checkIngest(entries, final.stored, final.dead, unconfirmedDead, killed));
      for (const b of brokers) {
        const left = await b.backlog();
        if (left > 0) ctx.violations.push({ invariant: 'scenario', detail: `ingest: ${left} entr${left === 1 ? 'y' : 'ies'} left unconsumed in ${b.kind}` });
      }
      // The devices are held to the stored entries by the suite's delivery check.
      ctx.publisher.records.push(...ingestPublishRecords(entries, final.stored, ctx.publisher.position()));

      ctx.notes.push(`concurrency ${concurrency}; killed ${kills.join(', ')}; ${redis}; ${settled ? 'settled' : 'NOT settled'}`);
      brokers.forEach((b, i) => ctx.notes.push(summary(b.kind, entries, produced[i]!, brokerFaults[i]!, final.dead, redelivered.get(b.kind) ?? 0, unconfirmedDead.get(b.kind) ?? 0)));
    } finally {
      // Cut the nodes off the brokers first: a source would declare a deleted queue, stream or table again.
      for (const px of proxies) {
        px.setRefuse(true);
        px.cut(1);
      }
      await bestEffort(...brokers.map((b) => () => b.cleanup()));
      await bestEffort(...proxies.map((px) => () => px.close()));
      at('cleaned up');
    }
  },
};

/** Every node's /readyz lists the three sources, each connected (a lost connection is back). */
async function waitSourcesConnected(ctx: ScenarioContext, ms: number): Promise<void> {
  for (const n of ctx.world.nodes) {
    try {
      await waitFor(`${n.id}: every ingest source connected`, async () => {
        const r = await httpRequest(n.port, 'GET', '/readyz', { timeoutMs: 2000 });
        const rows = (JSON.parse(r.body) as { ingest?: { kind: string; connected: boolean }[] }).ingest ?? [];
        return ['amqp', 'nats', 'pg'].every((k) => rows.some((x) => x.kind === k && x.connected));
      }, ms, 200);
    } catch (err) {
      if (!(err instanceof WaitTimeout)) throw err;
      ctx.violations.push({ invariant: 'scenario', detail: err.message });
    }
  }
}

/**
 * Waits (bounded) until every confirmed valid entry is stored, every poison one dead-lettered, the
 * brokers empty. Logs when each broker got there (what a slow settle waited for).
 */
async function settle(ctx: ScenarioContext, brokers: Broker[], entries: IngestEntry[], users: { tenant: string; user: string }[]): Promise<boolean> {
  const want = new Set(entries.filter((e) => e.fate === 'valid' && e.confirmed).flatMap((e) => e.users.map((u) => `${e.id} ${u}`)));
  const t0 = Date.now();
  const doneAt = new Map<string, number>();
  try {
    await waitFor('every ingest entry consumed', async () => {
      for (const b of brokers) {
        if (doneAt.has(b.kind)) continue;
        const poison = entries.filter((e) => e.source === b.kind && e.fate === 'poison' && e.confirmed).length;
        if ((await b.backlog()) === 0 && (await b.deadCount()) >= poison) doneAt.set(b.kind, Date.now() - t0);
      }
      if (doneAt.size < brokers.length) return false;
      const stored = await readInboxes(ctx.world.admin, ctx.world.prefix, users);
      const have = new Set(stored.map((s) => `${s.entry ?? ''} ${s.user}`));
      return [...want].every((k) => have.has(k));
    }, ctx.profile.deliveryTimeoutMs + 15_000, 500);
    return true;
  } catch (err) {
    if (err instanceof WaitTimeout) return false;
    throw err;
  } finally {
    ctx.log(`brokers drained after ${brokers.map((b) => `${b.kind} ${doneAt.has(b.kind) ? `${((doneAt.get(b.kind) ?? 0) / 1000).toFixed(1)} s` : 'never'}`).join(', ')}`);
  }
}

/** Inboxes and dead letters, read until two reads 1 s apart agree (bounded). */
async function stableOutcome(ctx: ScenarioContext, brokers: Broker[], users: { tenant: string; user: string }[]): Promise<{ stored: StoredEntry[]; dead: DeadLetterRecord[] }> {
  let last = '';
  const count = async (): Promise<string> => `${(await readInboxes(ctx.world.admin, ctx.world.prefix, users)).length}/${(await Promise.all(brokers.map((b) => b.deadCount()))).join(',')}`;
  await waitFor('ingest outcome stable', async () => {
    const now = await count();
    const same = now === last;
    last = now;
    return same;
  }, 20_000, 1000).catch(() => undefined);
  const stored = await readInboxes(ctx.world.admin, ctx.world.prefix, users);
  const dead = (await Promise.all(brokers.map((b) => b.deadLetters()))).flat();
  return { stored, dead };
}

/** A per-source counter summed over every process of the live nodes (a killed node's counts died with it), by `kind`. */
async function sourceCounter(ctx: ScenarioContext, metric: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const n of ctx.world.liveNodes()) {
    const pages = await n.metricsPages().catch(() => []);
    for (const page of pages) for (const kind of ['amqp', 'nats', 'pg']) out.set(kind, (out.get(kind) ?? 0) + (metricSum(page, metric, { kind }) ?? 0));
  }
  return out;
}

function summary(kind: string, all: IngestEntry[], s: ProduceStats, faults: string[], dead: DeadLetterRecord[], redelivered: number, unconfirmedDead: number): string {
  const es = all.filter((e) => e.source === kind);
  const n = (f: IngestEntry['fate']): number => es.filter((e) => e.fate === f).length;
  const unconfirmed = es.filter((e) => !e.confirmed && e.fate !== 'void').length;
  const extra = kind === 'pg' ? `, ${n('void')} in ${s.rolledBack} rolled-back transactions` : `, ${s.retries} producer retries`;
  return `${kind}: ${n('valid')} valid, ${n('poison')} poison (${dead.filter((d) => d.source === kind).length} dead letters${unconfirmedDead ? `, ${unconfirmedDead} unconfirmed by the broker` : ''})${extra}; ${redelivered} redeliveries seen by the live nodes${unconfirmed ? `, ${unconfirmed} unconfirmed` : ''}; faults: ${faults.join('; ') || 'none'}`;
}
