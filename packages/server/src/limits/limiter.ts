/**
 * Every limit Herald enforces, in one place, with the counters the metrics
 * read (herald_limit_rejections_total{limit}). The gateway and the HTTP API
 * ask here; each method answers "allowed" or how long to wait.
 *
 * Settings come from the live configuration (config/live.ts) at every call,
 * so a reload (SIGHUP, admin action) and per-tenant overrides apply to the
 * next frame or publish. Buckets are kept per rate spec: a limit whose spec
 * did not change keeps its state across a reload; a changed one starts full.
 */
import type { HeraldConfig } from '../config/schema.js';
import type { Stats } from '../observability/stats.js';
import { KeyedBuckets, type RateSpec } from './tokenBucket.js';
import type { LimitName } from '../observability/labels.js';
import type { SharedBuckets } from '../engine/types.js';
import { LiveConfig } from '../config/live.js';
import type { TenantLimitKey } from '../config/objectKeys.js';

export type { LimitName } from '../observability/labels.js';

/** An event-rate refusal: which table entry, and how long to wait. */
export interface EventRefusal {
  limit: LimitName;
  pattern: string;
  waitMs: number;
}

export class Limiter {
  readonly live: LiveConfig;
  /** Buckets per limit and spec ("name|rate|burst"). */
  private readonly buckets = new Map<string, KeyedBuckets>();
  /**
   * The bucket set of each limit for tenants without overrides ('' key) and for each tenant with
   * one, resolved once per configuration: a client frame costs a map lookup, not a spec string.
   */
  private readonly resolved = new Map<string, KeyedBuckets>();
  /**
   * The last tenant's API-publish bucket set and key: a run of publishes to one tenant (the usual
   * case) builds no key string per publish. One entry, so untrusted tenant names cannot grow it.
   */
  private lastApi: { tenant: string; set: KeyedBuckets; key: string } | undefined;
  /** The per-address connect buckets of the current configuration: no spec string per connect. */
  private connectSet: KeyedBuckets | undefined;

  constructor(
    c: HeraldConfig | LiveConfig,
    private readonly stats: Stats,
    /** An engine that shares token buckets across nodes, if any. */
    private readonly shared?: SharedBuckets,
  ) {
    this.live = c instanceof LiveConfig ? c : new LiveConfig(c);
    // Specs no key uses any more would linger: a reload starts the changed limits afresh.
    this.live.onChange(() => {
      this.resolved.clear();
      this.lastApi = undefined;
      this.connectSet = undefined;
      this.prune();
    });
  }

  reject(limit: LimitName): void {
    this.stats.bump(this.stats.limitRejections, limit);
  }

  private set(name: string, spec: RateSpec): KeyedBuckets {
    const id = `${name}|${spec.ratePerSec}|${spec.burst}`;
    let b = this.buckets.get(id);
    if (!b) this.buckets.set(id, (b = new KeyedBuckets(spec)));
    return b;
  }

  private tenantSet(name: string, tenant: string, rate: TenantLimitKey, burst: TenantLimitKey): KeyedBuckets {
    const t = this.live.tenant(tenant) === undefined ? '' : tenant;
    const k = name + '\u0000' + t;
    let b = this.resolved.get(k);
    if (!b) this.resolved.set(k, (b = this.set(name, { ratePerSec: this.live.limit(t, rate), burst: this.live.limit(t, burst) })));
    return b;
  }

  /** After a reload: drops the bucket sets of specs nothing uses any more; the others keep their state. */
  private prune(): void {
    const c = this.live.current;
    const keep = new Set<string>([`cip|${c.connectRatePerIp}|${c.connectBurstPerIp}`]);
    const tenants = ['', ...Object.keys(c.tenantOverrides)];
    for (const t of tenants) {
      const spec = (name: string, rate: TenantLimitKey, burst: TenantLimitKey) => keep.add(`${name}|${this.live.limit(t, rate)}|${this.live.limit(t, burst)}`);
      spec('fu', 'frameRatePerUser', 'frameBurstPerUser');
      spec('ft', 'frameRatePerTenant', 'frameBurstPerTenant');
      spec('pu', 'publishRatePerUser', 'publishBurstPerUser');
      spec('api', 'apiPublishRatePerTenant', 'apiPublishBurstPerTenant');
      const table = (t === '' ? undefined : c.tenantOverrides[t]?.eventRateLimits) ?? c.eventRateLimits;
      for (const r of Object.values(table)) for (const name of ['ev', 'evr']) keep.add(`${name}|${r.perSec}|${r.burst}`);
    }
    for (const id of this.buckets.keys()) if (!keep.has(id)) this.buckets.delete(id);
  }

  /** A new WebSocket from `ip`: 0 when allowed, else ms to wait. */
  connectFromIp(ip: string): number {
    let set = this.connectSet;
    if (set === undefined) {
      const c = this.live.current;
      this.connectSet = set = this.set('cip', { ratePerSec: c.connectRatePerIp, burst: c.connectBurstPerIp });
    }
    const wait = set.take(ip);
    if (wait > 0) this.reject('connect_rate_per_ip');
    return wait;
  }

  /** A client frame (any type but ack): checks the user's and the tenant's buckets. */
  clientFrame(tenant: string, user: string): LimitName | undefined {
    if (this.tenantSet('fu', tenant, 'frameRatePerUser', 'frameBurstPerUser').take(tenant + '\u0000' + user) > 0) return this.refused('frames_per_user');
    if (this.tenantSet('ft', tenant, 'frameRatePerTenant', 'frameBurstPerTenant').take(tenant) > 0) return this.refused('frames_per_tenant');
    return undefined;
  }

  /** A client room publish, on top of clientFrame. */
  clientPublish(tenant: string, user: string): boolean {
    if (this.tenantSet('pu', tenant, 'publishRatePerUser', 'publishBurstPerUser').take(tenant + '\u0000' + user) === 0) return true;
    this.reject('publish_per_user');
    return false;
  }

  /** Connections one user of `tenant` may hold on a node (0: no limit). */
  maxConnectionsPerUser(tenant: string): number {
    return this.live.limit(tenant, 'maxConnectionsPerUser');
  }

  /**
   * A client room publish with an `event`: the event table's entry for it, per
   * user and room (the table's per-tenant rate applied to each user in each
   * room). Publishes without an event, and events not in the table, pass.
   * Per node: a user's room publishes arrive on the node holding the user.
   */
  clientEvent(tenant: string, user: string, room: string, event: string | undefined): EventRefusal | undefined {
    if (event === undefined) return undefined;
    const rule = this.live.eventTable(tenant).match(event);
    if (!rule) return undefined;
    const key = `${tenant}\u0000${user}\u0000${room}\u0000${rule.pattern}`;
    // perSec 0 blocks the events (a kill switch for one event type).
    const waitMs = rule.spec.perSec <= 0 ? 60_000 : this.set('evr', { ratePerSec: rule.spec.perSec, burst: rule.spec.burst }).take(key);
    if (waitMs === 0) return undefined;
    this.reject('event_rate_per_user_room');
    return { limit: 'event_rate_per_user_room', pattern: rule.pattern, waitMs };
  }

  /**
   * An API or ingest publish of `event` to `tenant` (`cost` messages): the
   * event table's entry, one budget per (tenant, entry) — a prefix entry is
   * one budget for every event it matches. Shared by the cluster on Redis.
   */
  apiEvent(tenant: string, event: string | undefined, cost: number): EventRefusal | undefined | Promise<EventRefusal | undefined> {
    if (event === undefined) return undefined;
    const rule = this.live.eventTable(tenant).match(event);
    if (!rule) return undefined;
    const refuse = (waitMs: number): EventRefusal | undefined => {
      if (waitMs <= 0) return undefined;
      this.reject('event_rate_per_tenant');
      return { limit: 'event_rate_per_tenant', pattern: rule.pattern, waitMs };
    };
    // perSec 0 blocks the events (a kill switch for one event type).
    if (rule.spec.perSec <= 0) return refuse(60_000);
    const wait = this.take('ev', `ev:${tenant}\u0000${rule.pattern}`, { ratePerSec: rule.spec.perSec, burst: rule.spec.burst }, cost);
    return typeof wait === 'number' ? refuse(wait) : wait.then(refuse);
  }

  /**
   * An API publish to `tenant` (`cost` messages): 0 when allowed, else ms to wait.
   * With an engine that shares buckets (Redis) the budget is the cluster's, not
   * this node's; if the engine cannot answer, the node's own bucket decides.
   * Synchronous (a number) when the node's own buckets decide: no promise per publish.
   */
  apiPublish(tenant: string, cost: number): number | Promise<number> {
    let last = this.lastApi;
    if (last === undefined || last.tenant !== tenant) {
      last = { tenant, set: this.tenantSet('api', tenant, 'apiPublishRatePerTenant', 'apiPublishBurstPerTenant'), key: 'api:' + tenant };
      this.lastApi = last;
    }
    const set = last.set;
    if (!set.enabled) return 0;
    const wait = this.take('api', last.key, set.spec, cost, set);
    return typeof wait === 'number' ? this.apiPublishWait(wait) : wait.then((w) => this.apiPublishWait(w));
  }

  private apiPublishWait(wait: number): number {
    if (wait > 0) this.reject('api_publish_per_tenant');
    return wait;
  }

  /** Takes from the cluster's bucket when the engine shares them (a promise), else from the node's (a number). */
  private take(name: string, key: string, spec: RateSpec, cost: number, local?: KeyedBuckets): number | Promise<number> {
    if (this.shared) return this.takeShared(name, key, spec, cost);
    return (local ?? this.set(name, spec)).take(key, cost);
  }

  /** If the engine cannot answer, the node's own bucket decides. */
  private async takeShared(name: string, key: string, spec: RateSpec, cost: number): Promise<number> {
    try {
      return await this.shared!.takeTokens(key, spec.ratePerSec, spec.burst, cost);
    } catch {
      return this.set(name, spec).take(key, cost);
    }
  }

  private refused(limit: LimitName): LimitName {
    this.reject(limit);
    return limit;
  }
}
