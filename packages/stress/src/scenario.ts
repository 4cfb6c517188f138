/** What a scenario gets from the runner, and what it gives back. */
import { Fleet, type DeviceSpec } from './clients.js';
import type { Violation } from './invariants.js';
import type { Profile } from './profile.js';
import { Publisher, type PublishTarget } from './publisher.js';
import type { Rng } from './rng.js';
import type { World } from './world.js';

export interface ScenarioContext {
  world: World;
  profile: Profile;
  rng: Rng;
  fleet: Fleet;
  publisher: Publisher;
  /** Scenario-specific findings (e.g. a close code that should have come). */
  violations: Violation[];
  /** Facts worth printing (counts of 503s, close codes seen…). */
  notes: string[];
  /** Prefix of every user id of this scenario run: inboxes and cursors are never shared with another scenario. */
  ns: string;
  log(msg: string): void;
}

/** A user id in the scenario's namespace. */
export function uid(ctx: ScenarioContext, name: string): string {
  return `${ctx.ns}.${name}`;
}

export interface Scenario {
  name: string;
  summary: string;
  /**
   * The scenario calls `world.reconfigure()` itself: the runner then does not
   * first restart the nodes back to the defaults (one restart saved per such scenario).
   */
  reconfigures?: boolean;
  run(ctx: ScenarioContext): Promise<void>;
}

/** The usual population: `users` users of tenant `t1`, `devices` devices spread over them. */
export function standardDevices(ctx: ScenarioContext, n = ctx.profile.devices, users = ctx.profile.users, extra: Partial<DeviceSpec> = {}): DeviceSpec[] {
  return Array.from({ length: n }, (_, i) => ({ tenant: 't1', user: uid(ctx, `u${i % users}`), device: `d${Math.floor(i / users)}`, ...extra }));
}

/** Publish targets for a device population: every user, plus some device-targeted publishes. */
export function targetsFor(specs: readonly DeviceSpec[]): PublishTarget[] {
  const out: PublishTarget[] = [];
  const users = new Map<string, DeviceSpec>();
  for (const s of specs) users.set(`${s.tenant}/${s.user}`, s);
  for (const s of users.values()) out.push({ tenant: s.tenant, users: [s.user] }, { tenant: s.tenant, users: [s.user] }, { tenant: s.tenant, users: [s.user], device: s.device });
  return out;
}
