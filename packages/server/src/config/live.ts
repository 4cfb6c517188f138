/**
 * The live configuration: the one place the limiter, the load shedder, the
 * rebalancer and per-tenant features read settings that may change while the
 * node runs. `reload()` re-reads the same sources start-up read (file,
 * environment, flags); a reload that does not parse or validate is refused
 * whole and the old configuration stays. Keys outside RELOADABLE_KEYS (port,
 * engine, secrets, …) keep their start-up value and are reported as needing a
 * restart. Connections are never touched by a reload: new limits apply to
 * the next frame or publish.
 */
import type { HeraldConfig, HeraldConfigInput } from './schema.js';
import { loadConfig } from './load.js';
import type { EventRateSpec, EventRateTable, FeatureName, TenantLimitKey, TenantOverride } from './objectKeys.js';

/** Keys a reload applies. Everything else needs a restart. */
export const RELOADABLE_KEYS = [
  'eventRateLimits',
  'tenantOverrides',
  'maxConnectionsPerUser',
  'connectRatePerIp',
  'connectBurstPerIp',
  'frameRatePerUser',
  'frameBurstPerUser',
  'frameRatePerTenant',
  'frameBurstPerTenant',
  'publishRatePerUser',
  'publishBurstPerUser',
  'apiPublishRatePerTenant',
  'apiPublishBurstPerTenant',
  'shedEventLoopDelayMs',
  'shedOutboundBufferedBytes',
  'shedRecoverPercent',
  'shedRetryAfterSec',
  'rebalanceMarginPercent',
  'rebalanceMaxClosesPerSec',
] as const satisfies readonly (keyof HeraldConfig)[];
export type ReloadableKey = (typeof RELOADABLE_KEYS)[number];

/** Where the configuration came from, so a reload reads the same sources. */
export interface ConfigSources {
  file?: string;
  env?: NodeJS.ProcessEnv;
  overrides?: HeraldConfigInput;
}

export type ReloadResult =
  | { ok: true; changed: string[]; restartRequired: string[] }
  | { ok: false; error: string; key?: string };

/** One entry of an event table that matched: its pattern names the limit and the bucket. */
export interface EventRule {
  pattern: string;
  spec: EventRateSpec;
}

/** An event table compiled for matching: exact names first, then the longest matching prefix. */
export class CompiledEventTable {
  private readonly exact = new Map<string, EventRule>();
  private readonly prefixes: EventRule[] = [];

  constructor(table: EventRateTable) {
    for (const [pattern, spec] of Object.entries(table)) {
      if (pattern.endsWith('*')) this.prefixes.push({ pattern, spec });
      else this.exact.set(pattern, { pattern, spec });
    }
    this.prefixes.sort((a, b) => b.pattern.length - a.pattern.length);
  }

  get empty(): boolean {
    return this.exact.size === 0 && this.prefixes.length === 0;
  }

  match(event: string): EventRule | undefined {
    const hit = this.exact.get(event);
    if (hit) return hit;
    for (const p of this.prefixes) if (event.startsWith(p.pattern.slice(0, -1))) return p;
    return undefined;
  }
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

export class LiveConfig {
  private cfg: HeraldConfig;
  private globalTable: CompiledEventTable;
  private readonly tenantTables = new Map<string, CompiledEventTable>();
  private readonly listeners: ((c: HeraldConfig, changed: string[]) => void)[] = [];
  /** Reloads applied and refused since start (metrics, admin page). */
  reloads = { applied: 0, refused: 0, lastError: undefined as string | undefined, lastAt: 0 };

  constructor(
    initial: HeraldConfig,
    private readonly sources: ConfigSources = {},
  ) {
    this.cfg = initial;
    this.globalTable = new CompiledEventTable(initial.eventRateLimits);
  }

  get current(): HeraldConfig {
    return this.cfg;
  }

  /** Called after every applied reload with the new config and the keys that changed. */
  onChange(fn: (c: HeraldConfig, changed: string[]) => void): void {
    this.listeners.push(fn);
  }

  tenant(t: string): TenantOverride | undefined {
    return Object.hasOwn(this.cfg.tenantOverrides, t) ? this.cfg.tenantOverrides[t] : undefined;
  }

  /** A per-tenant limit: the tenant's override, else the global value. */
  limit(t: string, key: TenantLimitKey): number {
    return this.tenant(t)?.limits?.[key] ?? this.cfg[key];
  }

  /** Whether a feature is on for a tenant (every feature defaults to on). */
  feature(t: string, name: FeatureName): boolean {
    return this.tenant(t)?.features?.[name] ?? true;
  }

  /** The event table that applies to a tenant: its own when it has one, else the global one. */
  eventTable(t: string): CompiledEventTable {
    const own = this.tenant(t)?.eventRateLimits;
    if (!own) return this.globalTable;
    let c = this.tenantTables.get(t);
    if (!c) this.tenantTables.set(t, (c = new CompiledEventTable(own)));
    return c;
  }

  /** Re-reads the sources; applies the reloadable keys or refuses the whole file. */
  reload(): ReloadResult {
    this.reloads.lastAt = Date.now();
    let next: HeraldConfig;
    try {
      next = loadConfig(this.sources);
    } catch (err) {
      this.reloads.refused++;
      this.reloads.lastError = (err as Error).message;
      return { ok: false, error: (err as Error).message, ...((err as { key?: string }).key ? { key: (err as { key?: string }).key } : {}) };
    }
    return this.apply(next);
  }

  /** Applies a validated configuration (reload, or tests and embedders with their own source). */
  apply(next: HeraldConfig): ReloadResult {
    const changed: string[] = [];
    const restartRequired: string[] = [];
    const merged: Record<string, unknown> = { ...this.cfg };
    for (const key of Object.keys(next) as (keyof HeraldConfig)[]) {
      if (same(next[key], this.cfg[key])) continue;
      if ((RELOADABLE_KEYS as readonly string[]).includes(key)) {
        merged[key] = next[key];
        changed.push(key);
      } else if (!isDerived(key, this.cfg, next)) {
        restartRequired.push(key);
      }
    }
    this.cfg = merged as HeraldConfig;
    this.globalTable = new CompiledEventTable(this.cfg.eventRateLimits);
    this.tenantTables.clear();
    this.reloads.applied++;
    this.reloads.lastError = undefined;
    for (const fn of this.listeners) fn(this.cfg, changed);
    return { ok: true, changed, restartRequired };
  }
}

/** Keys filled in at start-up (dev-mode secrets, the chosen host) differ from a re-read without being changes. */
function isDerived(key: string, old: HeraldConfig, next: HeraldConfig): boolean {
  if (key === 'jwtSecret' || key === 'apiKey' || key === 'host') return next[key as keyof HeraldConfig] === undefined && old[key as keyof HeraldConfig] !== undefined;
  return false;
}
