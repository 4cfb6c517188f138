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
export const userKey = (tenant: string, user: string): string => tenant + SEP + user;
export const roomKey = (tenant: string, room: string): string => tenant + SEP + room;
const deviceKey = (tenant: string, user: string, device: string): string => tenant + SEP + user + SEP + device;

export interface Transitions {
  firstOfUser: boolean;
  firstOfTenant: boolean;
}

export class Registry<S extends DeliverySession = DeliverySession> implements LocalView {
  private readonly conns = new Map<string, S>();
  // Most users have one device and most keys one member: a lone connection is stored as
  // itself, a Set only from the second one on (a Set costs ~250 bytes per key).
  private readonly users = new Map<string, Members<S>>();
  private readonly devices = new Map<string, S>();
  private readonly tenants = new Map<string, Set<S>>();
  private readonly rooms = new Map<string, Members<S>>();
  readonly platforms: Record<Platform, number> = Object.fromEntries(PLATFORMS.map((p) => [p, 0])) as Record<Platform, number>;

  /** The last user route's key and its parts: a publish looks its route up twice (the delivery, then the online count), one key string built and hashed (issue 20). */
  private keyTenant = '';
  private keyUser = '';
  private keyOfUser = userKey('', '');

  constructor(private readonly nodeId: string) {}

  private routeUserKey(tenant: string, user: string): string {
    if (tenant !== this.keyTenant || user !== this.keyUser) {
      this.keyTenant = tenant;
      this.keyUser = user;
      this.keyOfUser = userKey(tenant, user);
    }
    return this.keyOfUser;
  }

  get size(): number {
    return this.conns.size;
  }

  get roomCount(): number {
    return this.rooms.size;
  }

  get userCount(): number {
    return this.users.size;
  }

  /** The active connection of a user+device, if any. */
  device(tenant: string, user: string, device: string): S | undefined {
    return this.devices.get(deviceKey(tenant, user, device));
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
    this.devices.set(deviceKey(c.tenant, c.user, c.device), c);
    const firstOfUser = addMember(this.users, userKey(c.tenant, c.user), c);
    const firstOfTenant = addTo(this.tenants, c.tenant, c);
    this.platforms[c.platform]++;
    return { firstOfUser, firstOfTenant };
  }

  /** Removes a connection from every index; returns what local interest ended, or null when it was not indexed. */
  remove(c: S): { lastOfUser: boolean; lastOfTenant: boolean; roomsEmptied: string[] } | null {
    if (this.conns.get(c.id) !== c) return null;
    this.conns.delete(c.id);
    const dk = deviceKey(c.tenant, c.user, c.device);
    if (this.devices.get(dk) === c) this.devices.delete(dk);
    const roomsEmptied: string[] = [];
    if (c.rooms) for (const room of c.rooms) if (removeMember(this.rooms, roomKey(c.tenant, room), c)) roomsEmptied.push(room);
    this.platforms[c.platform]--;
    return {
      lastOfUser: removeMember(this.users, userKey(c.tenant, c.user), c),
      lastOfTenant: removeFrom(this.tenants, c.tenant, c),
      roomsEmptied,
    };
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
      case 'user':
        return route.device !== undefined ? this.devices.get(deviceKey(route.tenant, route.user, route.device)) : this.users.get(this.routeUserKey(route.tenant, route.user));
      case 'room':
        return this.rooms.get(roomKey(route.tenant, route.room));
      case 'tenant':
        return this.tenants.get(route.tenant);
    }
  }

  /** How many local connections are indexed under a key of each kind (tests use it to prove no leaks). */
  indexSizes(): { conns: number; users: number; devices: number; tenants: number; rooms: number } {
    return { conns: this.conns.size, users: this.users.size, devices: this.devices.size, tenants: this.tenants.size, rooms: this.rooms.size };
  }

  // ---- LocalView ----

  userDevices(tenant: string, user: string): DevicePresence[] {
    return [...iterate(this.users.get(userKey(tenant, user)))].map((c) => ({
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
    if (route.kind === 'user' && route.device !== undefined) return this.devices.has(deviceKey(route.tenant, route.user, route.device)) ? 1 : 0;
    if (route.kind === 'user') return size(this.users.get(this.routeUserKey(route.tenant, route.user)));
    if (route.kind === 'room') return size(this.rooms.get(roomKey(route.tenant, route.room)));
    return this.tenants.get(route.tenant)?.size ?? 0;
  }
}

function addTo<T>(map: Map<string, Set<T>>, key: string, c: T): boolean {
  let set = map.get(key);
  if (!set) {
    set = new Set();
    map.set(key, set);
  }
  set.add(c);
  return set.size === 1;
}

function removeFrom<T>(map: Map<string, Set<T>>, key: string, c: T): boolean {
  const set = map.get(key);
  if (!set || !set.delete(c)) return false;
  if (set.size === 0) {
    map.delete(key);
    return true;
  }
  return false;
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
