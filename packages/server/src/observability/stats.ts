/**
 * Hot-path counters as plain numbers: a fan-out to 5,000 sockets must not pay
 * for 5,000 labelled metric updates. metrics.ts reads these at scrape time.
 */
import type { AuthFailureReason, LimitName } from './labels.js';

/** Route kinds a delivered frame can take (`device` = a user route narrowed to one device). */
export type DeliveredTarget = 'user' | 'device' | 'room' | 'tenant' | 'all';

export class Stats {
  connects = 0;
  readonly disconnects = new Map<number, number>();
  readonly authFailures = new Map<AuthFailureReason, number>();
  /** key: `${target}|${reliable}` */
  readonly published = new Map<string, number>();
  deliveredReliable = 0;
  deliveredEphemeral = 0;
  /** Frames written, by route kind: bumped once per fan-out (by its recipient count), never per recipient. */
  readonly deliveredReliableTo: Record<DeliveredTarget, number> = { user: 0, device: 0, room: 0, tenant: 0, all: 0 };
  readonly deliveredEphemeralTo: Record<DeliveredTarget, number> = { user: 0, device: 0, room: 0, tenant: 0, all: 0 };
  replayed = 0;
  acked = 0;
  retried = 0;
  ackTimeouts = 0;
  /** Reliable messages skipped because their `ttl` ran out before delivery. */
  expired = 0;
  /** key: `${route}|${status}` */
  readonly http = new Map<string, number>();
  readonly protocolErrors = new Map<string, number>();
  /** Requests, frames or connections refused by a limit, by limit name (see countLimitRejection). */
  readonly limitRejections = new Map<LimitName, number>();

  bump<K>(map: Map<K, number>, key: K, by = 1): void {
    map.set(key, (map.get(key) ?? 0) + by);
  }

  /**
   * A limit refused something: exported as `herald_limit_rejections_total{limit}`.
   * `limit` is a short stable name (e.g. `connections_per_user`, `publish_rate`,
   * `rooms_per_connection`); keep the set small, it becomes a label.
   */
  limitRejected(limit: LimitName, by = 1): void {
    this.bump(this.limitRejections, limit, by);
  }
}

/** Same as `stats.limitRejected(limit)`, for code that holds the Stats only as an optional dependency. */
export function countLimitRejection(stats: Stats | undefined, limit: LimitName, by = 1): void {
  stats?.limitRejected(limit, by);
}
