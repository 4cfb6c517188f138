/**
 * Runs a publish under an idempotency key (DESIGN.md §1, docs/http-api.md).
 *
 * The claim is a short lease, renewed while the publish runs: if this node
 * dies between claim and store, the key frees itself within one lease and a
 * retry on another node proceeds, instead of answering 409 for the whole
 * idempotency TTL. The finished result is kept for the full TTL.
 */
import type { Engine } from '../engine/types.js';
import { ApiError } from '../errors.js';

export interface IdempotencySettings {
  /** How long a finished result is remembered. */
  ttlMs: number;
  /** Lease of a pending claim; renewed every third of it while the work runs. */
  leaseMs: number;
}

export async function withIdempotency(engine: Engine, key: string, s: IdempotencySettings, work: () => Promise<unknown>): Promise<unknown> {
  const claim = await engine.idempotencyClaim(key, s.leaseMs);
  if (claim.state === 'done') return JSON.parse(claim.result) as unknown;
  if (claim.state === 'pending') throw new ApiError('idempotency_in_progress');
  // A failed renewal is retried at the next tick; if all fail the lease lapses, as for a dead node.
  const renew = setInterval(() => void engine.idempotencyRenew(key, s.leaseMs).catch(() => undefined), Math.max(10, Math.floor(s.leaseMs / 3)));
  renew.unref();
  let result: unknown;
  try {
    result = await work();
  } catch (err) {
    await engine.idempotencyRelease(key).catch(() => undefined);
    throw err;
  } finally {
    clearInterval(renew);
  }
  // The message is stored: a failure to record the result must not fail the request, nor release the
  // key (a retry would store a second copy at once). The claim stays pending until its lease lapses.
  await engine.idempotencyComplete(key, JSON.stringify(result), s.ttlMs).catch(() => undefined);
  return result;
}
