/**
 * Token buckets: `ratePerSec` tokens refill continuously up to `burst`.
 * A keyed set of buckets forgets idle keys (a full bucket carries no state
 * worth keeping), so memory follows the number of active keys.
 */

export interface RateSpec {
  /** Sustained rate, tokens per second. 0 disables the limit. */
  ratePerSec: number;
  /** Bucket size: how many may come at once. */
  burst: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class KeyedBuckets {
  private readonly buckets = new Map<string, Bucket>();
  private lastSweep = 0;

  constructor(readonly spec: RateSpec) {}

  get enabled(): boolean {
    return this.spec.ratePerSec > 0;
  }

  /**
   * Takes `cost` tokens for `key`. Returns 0 when allowed, else the ms to
   * wait until that many tokens are there (for Retry-After).
   */
  take(key: string, cost = 1, now = Date.now()): number {
    const { ratePerSec, burst } = this.spec;
    if (ratePerSec <= 0) return 0;
    if (now - this.lastSweep > 10_000) this.sweep(now);
    let b = this.buckets.get(key);
    if (!b) {
      b = { tokens: burst, at: now };
      this.buckets.set(key, b);
    } else {
      b.tokens = Math.min(burst, b.tokens + ((now - b.at) * ratePerSec) / 1000);
      b.at = now;
    }
    if (b.tokens >= cost) {
      b.tokens -= cost;
      return 0;
    }
    return Math.ceil(((cost - b.tokens) * 1000) / ratePerSec);
  }

  /** Like take() but takes nothing: 0 when `cost` tokens are there now, else the ms until they are. */
  peek(key: string, cost = 1, now = Date.now()): number {
    const { ratePerSec, burst } = this.spec;
    if (ratePerSec <= 0) return 0;
    const b = this.buckets.get(key);
    if (!b) return 0;
    const tokens = Math.min(burst, b.tokens + ((now - b.at) * ratePerSec) / 1000);
    return tokens >= cost ? 0 : Math.ceil(((cost - tokens) * 1000) / ratePerSec);
  }

  /** Drops buckets that have refilled completely: they are indistinguishable from new ones. */
  private sweep(now: number): void {
    this.lastSweep = now;
    const { ratePerSec, burst } = this.spec;
    for (const [k, b] of this.buckets) if (b.tokens + ((now - b.at) * ratePerSec) / 1000 >= burst) this.buckets.delete(k);
  }

  get size(): number {
    return this.buckets.size;
  }
}
