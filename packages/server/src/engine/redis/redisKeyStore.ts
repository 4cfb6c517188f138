/**
 * Small keyed state that every node shares on Redis: idempotency claims
 * (a lease while the owner works, the result afterwards) and the token
 * buckets of cluster-wide rate limits.
 */
import type { IdempotencyStore, SharedBuckets } from '../types.js';
import type { RedisClient } from '../../redis/connect.js';
import type { RedisKeys } from './keys.js';

interface KeyScripts {
  heraldIdemClaim(key: string, leaseMs: number): Promise<string[]>;
  heraldIdemRenew(key: string, leaseMs: number): Promise<number>;
  heraldTakeTokens(key: string, ratePerSec: number, burst: number, cost: number): Promise<number>;
}

export class RedisKeyStore implements IdempotencyStore, SharedBuckets {
  constructor(
    private readonly cmd: RedisClient,
    private readonly keys: RedisKeys,
    private readonly failed: (op: string) => (err: unknown) => never,
  ) {}

  private get scripts(): KeyScripts {
    return this.cmd as unknown as KeyScripts;
  }

  async idempotencyClaim(key: string, leaseMs: number): Promise<{ state: 'new' } | { state: 'pending' } | { state: 'done'; result: string }> {
    const r = await this.scripts.heraldIdemClaim(this.keys.idempotency(key), Math.max(1, Math.floor(leaseMs))).catch(this.failed('idempotency'));
    if (r[0] === 'new') return { state: 'new' };
    if (r[0] === 'pending') return { state: 'pending' };
    return { state: 'done', result: r[1] ?? '' };
  }

  async idempotencyRenew(key: string, leaseMs: number): Promise<void> {
    await this.scripts.heraldIdemRenew(this.keys.idempotency(key), Math.max(1, Math.floor(leaseMs))).catch(this.failed('idempotency'));
  }

  async idempotencyComplete(key: string, result: string, ttlMs: number): Promise<void> {
    await this.cmd.set(this.keys.idempotency(key), 'd' + result, 'PX', Math.max(1, Math.floor(ttlMs))).catch(this.failed('idempotency'));
  }

  async idempotencyRelease(key: string): Promise<void> {
    await this.cmd.del(this.keys.idempotency(key)).catch(this.failed('idempotency'));
  }

  /** Shared token bucket: 0 when `cost` was taken, else the ms to wait. */
  async takeTokens(key: string, ratePerSec: number, burst: number, cost: number): Promise<number> {
    return Number(await this.scripts.heraldTakeTokens(this.keys.rate(key), ratePerSec, burst, cost).catch(this.failed('rate')));
  }
}
