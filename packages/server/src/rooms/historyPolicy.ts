/**
 * How much history a room keeps: `roomHistorySize` / `roomHistoryTtlSec`,
 * overridden per room-name prefix by `roomHistoryOverrides` (longest prefix
 * wins). Resolved per call from a short sorted list: no per-room state.
 */
import type { HeraldConfig } from '../config/schema.js';
import type { RoomHistoryPolicy } from '../engine/types.js';

type HistoryConfig = Pick<HeraldConfig, 'roomHistorySize' | 'roomHistoryTtlSec' | 'roomHistoryOverrides'>;

export class HistoryPolicies {
  private readonly base: RoomHistoryPolicy;
  /** Longest prefix first. */
  private readonly overrides: { prefix: string; policy: RoomHistoryPolicy }[];

  constructor(c: HistoryConfig) {
    this.base = { size: c.roomHistorySize, ttlMs: c.roomHistoryTtlSec * 1000 };
    this.overrides = c.roomHistoryOverrides
      .map((o) => {
        const eq = o.lastIndexOf('=');
        const [size, ttl] = o.slice(eq + 1).split(':');
        return { prefix: o.slice(0, eq), policy: { size: Math.min(10_000, Number(size)), ttlMs: ttl !== undefined ? Math.max(1, Number(ttl)) * 1000 : this.base.ttlMs } };
      })
      .sort((a, b) => b.prefix.length - a.prefix.length);
  }

  /** The room's policy; `size` 0 means no history (no offsets, no recovery). */
  of(room: string): RoomHistoryPolicy {
    for (const o of this.overrides) if (room.startsWith(o.prefix)) return o.policy;
    return this.base;
  }

  /** True when no room can have history (every size 0): the fast path skips the policy lookup. */
  get off(): boolean {
    return this.base.size === 0 && this.overrides.every((o) => o.policy.size === 0);
  }
}
