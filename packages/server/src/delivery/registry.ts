/**
 * Session registry: every local connection indexed by id, user, user+device,
 * tenant and room, with per-platform counts. The indexes answer routing in
 * O(recipients) and tell the node when local interest in a user, room or
 * tenant starts or ends (so it can subscribe on the engine).
 */
import { PLATFORMS, type Platform } from '@herald/protocol';
import type { DeliverySession } from './session.js';
import type { DevicePresence, LocalView, RoomMember, Route } from '../engine/types.js';

const SEP = '\u0000';
export const roomKey = (tenant: string, room: string): string => tenant + SEP + room;

export interface Transitions {
  readonly firstOfUser: boolean;
  readonly firstOfTenant: boolean;
}

/** Registry.add's four possible answers, shared: no object per connect. */
const TRANSITIONS: readonly Transitions[] = [
  Object.freeze({ firstOfUser: false, firstOfTenant: false }),
  Object.freeze({ firstOfUser: true, firstOfTenant: false }),
  Object.freeze({ firstOfUser: false, firstOfTenant: true }),
  Object.freeze({ firstOfUser: true, firstOfTenant: true }),
];

/**
 * A tenant's local sessions: the Set answers tenant routes; `users` indexes them by user name.
 * Nested by tenant, the user and device indexes are keyed by the sessions' own strings: the
 * composite keys (`tenant\0user`, `tenant\0user\0device`) and the device map's entry cost ~200
 * bytes per connection (issue 20).
 */
class TenantSessions<S extends DeliverySession> extends Set<S> {
  readonly users = new Map<string, S | UserSessions<S>>();
}

/** Two or more sessions of one user, and the newest session of each of their devices. */
class UserSessions<S extends DeliverySession> extends Set<S> {
  readonly devices = new Map<string, S>();

  constructor(a: S, b: S) {
    super();
    this.put(a);
    this.put(b);
  }

  put(c: S): void {
    this.add(c);
    this.devices.set(c.device, c);
  }
}

export class Registry<S extends DeliverySession = DeliverySession> implements LocalView {
  private readonly conns = new Map<string, S>();
  // Most users have one device and most keys one member: a lone session is stored as itself, a
  // Set only from the second one on (a Set costs ~250 bytes per key). A lone session is also its
  // device's entry.
  private readonly tenants = new Map<string, TenantSessions<S>>();
  private readonly rooms = new Map<string, Members<S>>();
  private users = 0;
  readonly platforms: Record<Platform, number> = Object.fromEntries(PLATFORMS.map((p) => [p, 0])) as Record<Platform, number>;

  constructor(private readonly nodeId: string) {}

  get size(): number {
    return this.conns.size;
  }

  get roomCount(): number {
    return this.rooms.size;
  }

  get userCount(): number {
    return this.users;
  }

  private userMembers(tenant: string, user: string): S | UserSessions<S> | undefined {
    return this.tenants.get(tenant)?.users.get(user);
  }

  /** The active connection of a user+device, if any. */
  device(tenant: string, user: string, device: string): S | undefined {
    return deviceOf(this.userMembers(tenant, user), device);
  }

  get(id: string): S | undefined {
    return this.conns.get(id);
  }

  all(): IterableIterator<S> {
    return this.conns.values();
  }

  /** Indexes an authenticated connection. The caller closes any older one of the same device first. */
  add(c: S): Transitions {
    this.conns.set(c.id, c);
    let t = this.tenants.get(c.tenant);
    const firstOfTenant = t === undefined;
    if (t === undefined) this.tenants.set(c.tenant, (t = new TenantSessions()));
    t.add(c);
    const m = t.users.get(c.user);
    if (m === undefined) t.users.set(c.user, c);
    else if (m instanceof UserSessions) m.put(c);
    else if (m !== c) t.users.set(c.user, new UserSessions(m, c));
    if (m === undefined) this.users++;
    this.platforms[c.platform]++;
    return TRANSITIONS[(m === undefined ? 1 : 0) + (firstOfTenant ? 2 : 0)]!;
  }

  /** Removes a connection from every index; returns what local interest ended, or null when it was not indexed. */
  remove(c: S): { lastOfUser: boolean; lastOfTenant: boolean; roomsEmptied: string[] } | null {
    if (this.conns.get(c.id) !== c) return null;
    this.conns.delete(c.id);
    const roomsEmptied: string[] = [];
    if (c.rooms) for (const room of c.rooms) if (removeMember(this.rooms, roomKey(c.tenant, room), c)) roomsEmptied.push(room);
    this.platforms[c.platform]--;
    const t = this.tenants.get(c.tenant);
    if (t === undefined || !t.delete(c)) return { lastOfUser: false, lastOfTenant: false, roomsEmptied };
    let lastOfUser = false;
    const m = t.users.get(c.user);
    if (m instanceof UserSessions) {
      if (m.delete(c) && m.devices.get(c.device) === c) m.devices.delete(c.device);
      if (m.size === 1) t.users.set(c.user, m.values().next().value!);
    } else if (m === c) {
      t.users.delete(c.user);
      this.users--;
      lastOfUser = true;
    }
    const lastOfTenant = t.size === 0;
    if (lastOfTenant) this.tenants.delete(c.tenant);
    return { lastOfUser, lastOfTenant, roomsEmptied };
  }

  /** Returns true when `c` is the first local member of the room. */
  join(c: S, room: string): boolean {
    (c.rooms ??= new Set()).add(room);
    return addMember(this.rooms, roomKey(c.tenant, room), c);
  }

  /** Returns true when the room has no local member left. */
  leave(c: S, room: string): boolean {
    c.rooms?.delete(room);
    return removeMember(this.rooms, roomKey(c.tenant, room), c);
  }

  roomSize(tenant: string, room: string): number {
    return size(this.rooms.get(roomKey(tenant, room)));
  }

  /** The sessions a route reaches on this node. */
  lookup(route: Route): Iterable<S> {
    return route.kind === 'all' ? this.conns.values() : iterate(this.members(route));
  }

  /**
   * What a route other than `all` reaches here: one session, a Set of several, or undefined —
   * lookup() without the one-element array and its iterator for the common lone session.
   */
  members(route: Exclude<Route, { kind: 'all' }>): S | Set<S> | undefined {
    switch (route.kind) {
      case 'user': {
        const m = this.userMembers(route.tenant, route.user);
        return route.device !== undefined ? deviceOf(m, route.device) : m;
      }
      case 'room':
        return this.rooms.get(roomKey(route.tenant, route.room));
      case 'tenant':
        return this.tenants.get(route.tenant);
    }
  }

  /** How many local connections are indexed under a key of each kind (tests use it to prove no leaks). */
  indexSizes(): { conns: number; users: number; devices: number; tenants: number; rooms: number } {
    let users = 0;
    let devices = 0;
    for (const t of this.tenants.values()) {
      users += t.users.size;
      for (const m of t.users.values()) devices += m instanceof UserSessions ? m.devices.size : 1;
    }
    return { conns: this.conns.size, users, devices, tenants: this.tenants.size, rooms: this.rooms.size };
  }

  // ---- LocalView ----

  userDevices(tenant: string, user: string): DevicePresence[] {
    return [...iterate(this.userMembers(tenant, user))].map((c) => ({
      tenant: c.tenant,
      user: c.user,
      device: c.device,
      platform: c.platform,
      node: this.nodeId,
      conn: c.id,
      since: c.connectedAt,
    }));
  }

  roomMembers(tenant: string, room: string): RoomMember[] {
    return [...iterate(this.rooms.get(roomKey(tenant, room)))].map((c) => ({ user: c.user, device: c.device, node: this.nodeId }));
  }

  count(route: Route): number {
    if (route.kind === 'all') return this.conns.size;
    if (route.kind === 'user' && route.device !== undefined) return deviceOf(this.userMembers(route.tenant, route.user), route.device) !== undefined ? 1 : 0;
    if (route.kind === 'user') return size(this.userMembers(route.tenant, route.user));
    if (route.kind === 'room') return size(this.rooms.get(roomKey(route.tenant, route.room)));
    return this.tenants.get(route.tenant)?.size ?? 0;
  }
}

/** The session of `device` among a user's: a lone session when it is that device's, else the device index. */
function deviceOf<S extends DeliverySession>(m: S | UserSessions<S> | undefined, device: string): S | undefined {
  if (m === undefined) return undefined;
  if (m instanceof UserSessions) return m.devices.get(device);
  return m.device === device ? m : undefined;
}

/** One connection, or a Set of two or more. */
type Members<T> = T | Set<T>;

const NONE: readonly never[] = [];

function iterate<T>(m: Members<T> | undefined): Iterable<T> {
  return m === undefined ? NONE : m instanceof Set ? m : [m];
}

function size<T>(m: Members<T> | undefined): number {
  return m === undefined ? 0 : m instanceof Set ? m.size : 1;
}

/** Returns true when `c` is the key's first member. */
function addMember<T>(map: Map<string, Members<T>>, key: string, c: T): boolean {
  const m = map.get(key);
  if (m === undefined) {
    map.set(key, c);
    return true;
  }
  if (m instanceof Set) m.add(c);
  else if (m !== c) map.set(key, new Set([m, c]));
  return false;
}

/** Returns true when the key has no member left. */
function removeMember<T>(map: Map<string, Members<T>>, key: string, c: T): boolean {
  const m = map.get(key);
  if (m === undefined) return false;
  if (m instanceof Set) {
    if (!m.delete(c)) return false;
    if (m.size === 1) map.set(key, m.values().next().value!);
    return false;
  }
  if (m !== c) return false;
  map.delete(key);
  return true;
}
