/**
 * The seeded producer of one source: small batches at a steady rate for the
 * loaded phase, each entry poison with a small seeded chance (every poison
 * kind of the source at least once, at seeded places); PostgreSQL batches are
 * transactions, some rolled back; RabbitMQ and NATS producers sometimes send
 * an entry again with the same broker identity (a producer retry).
 */
import type { Rng } from '../rng.js';
import type { Broker, Outgoing } from './broker.js';
import { POISONS, type Workload } from './workload.js';

export interface ProduceOptions {
  ratePerSec: number;
  durationMs: number;
  /** Share of entries that are poison, besides the one of each kind. */
  poisonShare: number;
  /** Share of PostgreSQL transactions rolled back. */
  rollbackShare: number;
  /** Share of batches after which one valid entry is sent again (RabbitMQ, NATS). */
  retryShare: number;
}

export interface ProduceStats {
  batches: number;
  rolledBack: number;
  retries: number;
  errors: number;
}

export async function produce(broker: Broker, w: Workload, rng: Rng, o: ProduceOptions): Promise<ProduceStats> {
  const total = Math.max(POISONS[w.kind].length * 3, Math.round((o.ratePerSec * o.durationMs) / 1000));
  // One poison entry of each kind, at seeded positions.
  const forced = new Map<number, (typeof POISONS)[typeof w.kind][number]>();
  for (const p of POISONS[w.kind]) {
    let at = rng.int(0, total - 1);
    while (forced.has(at)) at = (at + 1) % total;
    forced.set(at, p);
  }
  const stats: ProduceStats = { batches: 0, rolledBack: 0, retries: 0, errors: 0 };
  const started = Date.now();
  const gap = o.durationMs / total;
  let i = 0;
  while (i < total) {
    const size = Math.min(total - i, rng.int(1, 4));
    // A rolled-back transaction holds only entries that must leave no trace (never a forced poison one).
    const hasForced = Array.from({ length: size }, (_, k) => forced.has(i + k)).some(Boolean);
    const rollback = broker.kind === 'pg' && rng.chance(o.rollbackShare) && !hasForced;
    const batch: Outgoing[] = [];
    for (let k = 0; k < size; k++, i++) {
      const f = forced.get(i);
      if (f) batch.push(w.poison(f));
      else if (rollback) batch.push(w.rolledBack());
      else batch.push(rng.chance(o.poisonShare) ? w.poison() : w.valid());
    }
    try {
      await broker.produce(batch, rollback);
      const again = batch.filter((b) => b.entry.fate === 'valid' && b.entry.confirmed);
      if (broker.kind !== 'pg' && again.length && rng.chance(o.retryShare)) {
        await broker.produce([rng.pick(again)]);
        stats.retries++;
      }
    } catch {
      stats.errors++;
    }
    stats.batches++;
    if (rollback) stats.rolledBack++;
    const wait = started + i * gap - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  return stats;
}
