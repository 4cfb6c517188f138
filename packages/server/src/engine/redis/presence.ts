/**
 * Presence across nodes: which devices of a user are online, who is in a
 * room, how many connections a tenant (or the cluster) has.
 *
 * Records are hash fields written by the node that holds the connection and
 * stamped with that node's id and *boot id* (one per process start). A node
 * proves it is alive with one key, `node:{id}` = boot id, whose short TTL its
 * heartbeat refreshes. Readers keep only records whose boot id matches a live
 * node key, so a crashed node's devices and room members disappear within
 * one node TTL — with one write per node per heartbeat, not one per device.
 * A node restarted under the same id has a new boot id, so its previous
 * life's records are not mistaken for live ones. Dead records are deleted
 * lazily by readers; hash keys also carry a long TTL that the owning nodes
 * refresh, so records of users nobody asks about do not stay for ever.
 *
 * Tenant/cluster connection counts: each node writes its own per-tenant and
 * total counts (`count|boot`) into a hash every heartbeat; readers add the
 * local node's exact count to the other live nodes' reports (at most one
 * heartbeat stale). Exact per-event counters would cost a write per
 * connect/disconnect and drift for ever when a node dies between the two.
 */
import { randomBytes } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import type { Logger } from '../../observability/logger.js';
import type { DevicePresence, LocalView, RoomMember, Route } from '../types.js';
import { RedisKeys } from './keys.js';

export interface PresenceOptions {
  /** Heartbeat period: node key refresh and count reports. */
  heartbeatMs: number;
  /** A node that missed heartbeats for this long is dead. */
  nodeTtlMs: number;
  /** TTL of presence/member hashes, refreshed by the nodes that hold their entries. */
  keyTtlMs: number;
}

export const DEFAULT_PRESENCE: PresenceOptions = { heartbeatMs: 5_000, nodeTtlMs: 15_000, keyTtlMs: 30 * 60_000 };

type Client = Redis | Cluster;

interface DeviceRecord {
  platform: string;
  node: string;
  conn: string;
  since: number;
  boot: string;
}

interface MemberRecord {
  node: string;
  boot: string;
}

/** Scripts defined on the command client by the engine. */
interface WithScripts {
  heraldHdelIf(key: string, field: string, prop: string, expected: string): Promise<number>;
}

export class RedisPresence {
  readonly boot = randomBytes(6).toString('base64url');
  private timer: NodeJS.Timeout | undefined;
  private lastKeyRefresh = 0;
  /** Local connections per (tenant,user) / per (tenant,room): whose hash keys this node keeps alive. */
  private readonly localUsers = new Map<string, { tenant: string; user: string; n: number }>();
  private readonly localRooms = new Map<string, { tenant: string; room: string; n: number }>();
  private readonly tenantCounts = new Map<string, number>();
  /** Tenants reported non-zero last heartbeat: a drop to zero must be written once too. */
  private readonly reported = new Set<string>();
  private total = 0;
  /** Liveness answers are cached briefly: a fan-out of presence reads must not cost a GET per record. */
  private readonly liveCache = new Map<string, { boot: string | null; until: number }>();

  constructor(
    private readonly client: Client,
    private readonly keys: RedisKeys,
    private readonly nodeId: string,
    private readonly opts: PresenceOptions,
    private readonly logger: Logger,
    private local: LocalView | undefined = undefined,
  ) {}

  async start(local: LocalView): Promise<void> {
    this.local = local;
    await this.heartbeat();
    this.timer = setInterval(() => {
      this.heartbeat().catch((err: Error) => this.logger.warn({ err: err.message }, 'presence heartbeat failed'));
    }, this.opts.heartbeatMs);
    this.timer.unref();
  }

  /** Stops the heartbeat and withdraws this node: its records vanish for readers at once. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.client.status !== 'ready') return;
    const ops: Promise<unknown>[] = [this.client.del(this.keys.nodeAlive(this.nodeId)), this.client.hdel(this.keys.allCounts(), this.nodeId)];
    for (const t of this.reported) ops.push(this.client.hdel(this.keys.tenantCounts(t), this.nodeId));
    await Promise.allSettled(ops);
  }

  /** Heartbeat: liveness key, count reports, and (less often) the TTL of the hashes holding this node's records. */
  async heartbeat(now = Date.now()): Promise<void> {
    const c = this.client;
    const ops: Promise<unknown>[] = [c.set(this.keys.nodeAlive(this.nodeId), this.boot, 'PX', this.opts.nodeTtlMs)];
    ops.push(c.hset(this.keys.allCounts(), this.nodeId, `${this.total}|${this.boot}`));
    for (const [t, n] of this.tenantCounts) ops.push(c.hset(this.keys.tenantCounts(t), this.nodeId, `${n}|${this.boot}`));
    for (const t of this.reported) if (!this.tenantCounts.has(t)) ops.push(c.hdel(this.keys.tenantCounts(t), this.nodeId));
    this.reported.clear();
    for (const t of this.tenantCounts.keys()) this.reported.add(t);
    if (now - this.lastKeyRefresh >= this.opts.keyTtlMs / 3) {
      this.lastKeyRefresh = now;
      for (const u of this.localUsers.values()) ops.push(c.pexpire(this.keys.userPresence(u.tenant, u.user), this.opts.keyTtlMs));
      for (const r of this.localRooms.values()) ops.push(c.pexpire(this.keys.roomMembers(r.tenant, r.room), this.opts.keyTtlMs));
    }
    this.liveCache.set(this.nodeId, { boot: this.boot, until: now + this.opts.heartbeatMs });
    await Promise.all(ops);
  }

  async add(d: DevicePresence): Promise<void> {
    const rec: DeviceRecord = { platform: d.platform, node: d.node, conn: d.conn, since: d.since, boot: this.boot };
    const key = this.keys.userPresence(d.tenant, d.user);
    const uk = d.tenant + '\u0000' + d.user;
    const lu = this.localUsers.get(uk);
    if (lu) lu.n++;
    else this.localUsers.set(uk, { tenant: d.tenant, user: d.user, n: 1 });
    this.tenantCounts.set(d.tenant, (this.tenantCounts.get(d.tenant) ?? 0) + 1);
    this.total++;
    await Promise.all([this.client.hset(key, d.device, JSON.stringify(rec)), this.client.pexpire(key, this.opts.keyTtlMs)]);
  }

  async remove(d: DevicePresence): Promise<void> {
    const uk = d.tenant + '\u0000' + d.user;
    const lu = this.localUsers.get(uk);
    if (lu && --lu.n <= 0) this.localUsers.delete(uk);
    const n = (this.tenantCounts.get(d.tenant) ?? 0) - 1;
    if (n > 0) this.tenantCounts.set(d.tenant, n);
    else this.tenantCounts.delete(d.tenant);
    if (this.total > 0) this.total--;
    await (this.client as unknown as WithScripts).heraldHdelIf(this.keys.userPresence(d.tenant, d.user), d.device, 'conn', d.conn);
  }

  async join(tenant: string, room: string, m: RoomMember): Promise<void> {
    const rk = tenant + '\u0000' + room;
    const lr = this.localRooms.get(rk);
    if (lr) lr.n++;
    else this.localRooms.set(rk, { tenant, room, n: 1 });
    const key = this.keys.roomMembers(tenant, room);
    const rec: MemberRecord = { node: m.node, boot: this.boot };
    await Promise.all([this.client.hset(key, RedisKeys.memberField(m.user, m.device), JSON.stringify(rec)), this.client.pexpire(key, this.opts.keyTtlMs)]);
  }

  async leave(tenant: string, room: string, m: RoomMember): Promise<void> {
    const rk = tenant + '\u0000' + room;
    const lr = this.localRooms.get(rk);
    if (lr && --lr.n <= 0) this.localRooms.delete(rk);
    await (this.client as unknown as WithScripts).heraldHdelIf(this.keys.roomMembers(tenant, room), RedisKeys.memberField(m.user, m.device), 'node', m.node);
  }

  async userDevices(tenant: string, user: string): Promise<DevicePresence[]> {
    const key = this.keys.userPresence(tenant, user);
    const all = await this.client.hgetall(key);
    const out: DevicePresence[] = [];
    const dead: [string, string, string, string][] = [];
    for (const [device, raw] of Object.entries(all)) {
      const rec = parse<DeviceRecord>(raw);
      if (!rec) continue;
      if (await this.isLive(rec.node, rec.boot)) out.push({ tenant, user, device, platform: rec.platform, node: rec.node, conn: rec.conn, since: rec.since });
      else dead.push([key, device, 'boot', rec.boot]);
    }
    this.sweep(dead);
    out.sort((a, b) => a.since - b.since || a.device.localeCompare(b.device));
    return out;
  }

  async roomMembers(tenant: string, room: string): Promise<RoomMember[]> {
    const key = this.keys.roomMembers(tenant, room);
    const all = await this.client.hgetall(key);
    const out: RoomMember[] = [];
    const dead: [string, string, string, string][] = [];
    for (const [field, raw] of Object.entries(all)) {
      const rec = parse<MemberRecord>(raw);
      if (!rec) continue;
      if (await this.isLive(rec.node, rec.boot)) {
        const [user, device] = splitField(field);
        out.push({ user, device, node: rec.node });
      } else dead.push([key, field, 'boot', rec.boot]);
    }
    this.sweep(dead);
    out.sort((a, b) => a.user.localeCompare(b.user) || a.device.localeCompare(b.device));
    return out;
  }

  async count(route: Route): Promise<number> {
    switch (route.kind) {
      case 'user': {
        const devices = await this.userDevices(route.tenant, route.user);
        return route.device === undefined ? devices.length : devices.filter((d) => d.device === route.device).length;
      }
      case 'room':
        return (await this.roomMembers(route.tenant, route.room)).length;
      case 'tenant':
      case 'all': {
        // This node's own count is read live from the registry; the others' from their last report.
        const own = this.local ? this.local.count(route) : route.kind === 'all' ? this.total : (this.tenantCounts.get(route.tenant) ?? 0);
        const reports = await this.client.hgetall(route.kind === 'all' ? this.keys.allCounts() : this.keys.tenantCounts(route.tenant));
        let n = own;
        for (const [node, v] of Object.entries(reports)) {
          if (node === this.nodeId) continue;
          const bar = v.indexOf('|');
          if (bar < 0) continue;
          if (await this.isLive(node, v.slice(bar + 1))) n += Number(v.slice(0, bar)) || 0;
        }
        return n;
      }
    }
  }

  private async isLive(node: string, boot: string): Promise<boolean> {
    if (node === this.nodeId) return boot === this.boot;
    const now = Date.now();
    let hit = this.liveCache.get(node);
    if (!hit || hit.until <= now) {
      const b = await this.client.get(this.keys.nodeAlive(node));
      hit = { boot: b, until: now + 1000 };
      this.liveCache.set(node, hit);
      if (this.liveCache.size > 10_000) this.liveCache.clear();
    }
    return hit.boot === boot;
  }

  /** Deletes records of dead node incarnations (best effort; compared by boot id so a record rewritten meanwhile stays). */
  private sweep(dead: [string, string, string, string][]): void {
    for (const [key, field, prop, expected] of dead) {
      (this.client as unknown as WithScripts).heraldHdelIf(key, field, prop, expected).catch(() => {});
    }
  }
}

function parse<T>(raw: string): T | undefined {
  try {
    return JSON.parse(raw) as T;
  } catch {
    return undefined;
  }
}

function splitField(field: string): [string, string] {
  const i = field.indexOf(':');
  return [decodeURIComponent(field.slice(0, i)), decodeURIComponent(field.slice(i + 1))];
}
