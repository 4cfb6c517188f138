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
import type { DevicePresence, LocalView, LostConnection, PresenceEventSink, RoomMember, Route } from '../types.js';
import { RedisKeys } from './keys.js';
import { reapDeadNodes, type IndexedConn } from './nodeReaper.js';
import { definePresenceScripts, presenceAdd, presenceRemove, type PresenceAddition, type PresenceKeys, type PresencePublish } from './presenceScripts.js';

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
  /** Awareness state (JSON text), when set: it lives and dies with the member record. */
  s?: string;
}

/** Scripts defined on the command client by the engine. */
interface WithScripts {
  heraldHdelIf(key: string, field: string, prop: string, expected: string): Promise<number>;
  heraldHsetIfMine(key: string, field: string, value: string, prop: string, mine: string, ttlMs: number): Promise<number>;
}

/** Records written per round trip when restoring: bounded bursts, not one giant pipeline. */
const RESTORE_CHUNK = 500;

export class RedisPresence {
  readonly boot = randomBytes(6).toString('base64url');
  private timer: NodeJS.Timeout | undefined;
  private lastRestore = 0;
  private heartbeatFailing = false;
  /**
   * This node's own records, so that it can write them again: the periodic
   * refresh keeps their hashes' TTL alive and heals records lost to a Redis
   * restart or swept by a reader while this node's liveness key had lapsed.
   * Keyed by connection id and holding the caller's record as it is: the keys and JSON texts are
   * built again when restoring (every keyTtl/3), not kept per connection (issue 20: ~0.5 KB each).
   */
  private readonly devices = new Map<string, DevicePresence>();
  private readonly members = new Map<string, { key: string; field: string; json: string }>();
  private readonly tenantCounts = new Map<string, number>();
  /** Connections per user and members per room on this node: the users/rooms figures of the node report. */
  private readonly userConns = new Map<string, number>();
  private readonly roomMembersLocal = new Map<string, number>();
  /** Tenants reported non-zero last heartbeat: a drop to zero must be written once too. */
  private readonly reported = new Set<string>();
  private total = 0;
  /** Liveness answers are cached briefly: a fan-out of presence reads must not cost a GET per record. */
  private readonly liveCache = new Map<string, { boot: string | null; at: number }>();
  /** Told about the connections of crashed nodes this node reaped (nodeReaper.ts). */
  onLost: ((lost: LostConnection[]) => void) | undefined;
  /** Builds online/offline events the scripts write with the change (webhooks on, single Redis only). */
  sink: PresenceEventSink | undefined;
  private reaping = false;
  /** A single Redis (not Cluster): the node's index entry is written by the presence scripts themselves (and add() publishes). */
  readonly indexInScript: boolean;
  /** `node|boot` and this incarnation's index key: the same for every connection, built once. */
  private readonly nodeRef: string;
  private readonly indexKey: string;

  constructor(
    private readonly client: Client,
    private readonly keys: RedisKeys,
    private readonly nodeId: string,
    private readonly opts: PresenceOptions,
    private readonly logger: Logger,
    private local: LocalView | undefined = undefined,
  ) {
    // The connection-set scripts belong to presence (and the reaper, on the same client).
    this.indexInScript = definePresenceScripts(client);
    this.nodeRef = `${nodeId}|${this.boot}`;
    this.indexKey = keys.nodeConns(nodeId, this.boot);
  }

  async start(local: LocalView): Promise<void> {
    this.local = local;
    await this.heartbeat();
    await this.client.sadd(this.keys.nodeBoots(), `${this.boot}:${this.nodeId}`);
    this.timer = setInterval(() => {
      void this.reap();
      this.heartbeat().then(
        () => {
          if (this.heartbeatFailing) this.logger.info('presence heartbeat recovered');
          this.heartbeatFailing = false;
        },
        (err: Error) => {
          // Once per outage, not every heartbeat.
          if (!this.heartbeatFailing) this.logger.warn({ err: err.message }, 'presence heartbeat failed');
          this.heartbeatFailing = true;
        },
      );
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

  /** Heartbeat: liveness key, count reports, and (every keyTtl/3) a rewrite of this node's records. */
  async heartbeat(now = Date.now()): Promise<void> {
    const c = this.client;
    const ops: Promise<unknown>[] = [c.set(this.keys.nodeAlive(this.nodeId), this.boot, 'PX', this.opts.nodeTtlMs)];
    // `connections|boot|users|rooms|reportedAt`: the first two serve onlineCount, all of them nodes().
    ops.push(c.hset(this.keys.allCounts(), this.nodeId, `${this.total}|${this.boot}|${this.userConns.size}|${this.roomMembersLocal.size}|${now}`));
    for (const [t, n] of this.tenantCounts) ops.push(c.hset(this.keys.tenantCounts(t), this.nodeId, `${n}|${this.boot}`));
    for (const t of this.reported) if (!this.tenantCounts.has(t)) ops.push(c.hdel(this.keys.tenantCounts(t), this.nodeId));
    this.reported.clear();
    for (const t of this.tenantCounts.keys()) this.reported.add(t);
    await Promise.all(ops);
    if (now - this.lastRestore >= this.opts.keyTtlMs / 3) await this.restore(now);
  }

  /** Looks for crashed nodes and reports their connections, chunk by chunk as removed (one pass at a time). */
  reap(): Promise<void> {
    if (this.reaping) return Promise.resolve();
    this.reaping = true;
    const me = { node: this.nodeId, boot: this.boot };
    return reapDeadNodes(this.client, this.keys, me, Math.max(30_000, this.opts.nodeTtlMs * 2), (lost) => this.onLost?.(lost), this.sink)
      .then(
        () => {},
        (err: Error) => this.logger.warn({ err: err.message }, 'reaping dead nodes failed'),
      )
      .finally(() => (this.reaping = false));
  }

  /** Writes every record this node owns again (unless its field now belongs to another connection). */
  async restore(now = Date.now()): Promise<void> {
    this.lastRestore = now;
    const s = this.client as unknown as WithScripts;
    const ttl = this.opts.keyTtlMs;
    const jobs: (() => Promise<unknown>)[] = [];
    for (const d of this.devices.values()) {
      jobs.push(() => s.heraldHsetIfMine(this.keys.userPresence(d.tenant, d.user), d.device, this.record(d), 'conn', d.conn, ttl));
    }
    // The connection sets and this incarnation's index too (a Redis restart may have lost them):
    // plain writes, no online events — these users were online all along.
    const index = this.keys.nodeConns(this.nodeId, this.boot);
    for (const [conn, d] of this.devices) {
      jobs.push(async () => {
        // Checked when issued: a remove issued later goes out after these writes on the same connection.
        if (this.devices.get(conn) !== d) return;
        await Promise.all([this.client.hset(this.keys.userConns(d.tenant, d.user), conn, `${this.nodeId}|${this.boot}`), this.client.hset(index, conn, indexedRecord(d))]);
      });
    }
    jobs.push(() => this.client.sadd(this.keys.nodeBoots(), `${this.boot}:${this.nodeId}`));
    for (const m of this.members.values()) jobs.push(() => s.heraldHsetIfMine(m.key, m.field, m.json, 'node', this.nodeId, ttl));
    for (let i = 0; i < jobs.length; i += RESTORE_CHUNK) await Promise.all(jobs.slice(i, i + RESTORE_CHUNK).map((j) => j()));
  }

  /**
   * Records the device; true when it is the user's first connection in the cluster. PRESENCE_ADD
   * (record, connection and — on a single Redis — the node's index entry: one command; on Cluster
   * the index HSET is sent with it, see presenceScripts.ts).
   */
  async add(d: DevicePresence, announce = true, pub?: PresencePublish): Promise<boolean> {
    const a = this.adding(d, announce);
    return presenceAdd(this.client, this.indexInScript, a.keys, a.args, a.indexRecord, a.event, pub);
  }

  /**
   * add()'s bookkeeping on this node, and what its script is given: a script that writes the record
   * with more (CONNECT_START, connectStart.ts; indexed only) calls this instead of add().
   */
  adding(d: DevicePresence, announce: boolean): PresenceAddition {
    this.devices.set(d.conn, d);
    this.tenantCounts.set(d.tenant, (this.tenantCounts.get(d.tenant) ?? 0) + 1);
    bump(this.userConns, d.tenant + '\u0000' + d.user, 1);
    this.total++;
    return {
      keys: this.keysOf(d),
      args: [d.device, this.record(d), this.opts.keyTtlMs, d.conn, this.nodeRef],
      indexRecord: indexedRecord(d),
      event: announce ? this.sink?.online(d) : undefined,
    };
  }

  /**
   * Removes the device; true when it was the user's last connection in the cluster. PRESENCE_REMOVE
   * (record, connection and — on a single Redis — the index entry, one script; on Cluster the index
   * entry is deleted once it answered: the index outlives the count, see presenceScripts.ts).
   */
  async remove(d: DevicePresence, announce = true): Promise<boolean> {
    this.devices.delete(d.conn);
    const n = (this.tenantCounts.get(d.tenant) ?? 0) - 1;
    if (n > 0) this.tenantCounts.set(d.tenant, n);
    else this.tenantCounts.delete(d.tenant);
    bump(this.userConns, d.tenant + '\u0000' + d.user, -1);
    if (this.total > 0) this.total--;
    return presenceRemove(this.client, this.indexInScript, this.keysOf(d), d.device, d.conn, announce ? this.sink?.offline(d, 'disconnected') : undefined);
  }

  private keysOf(d: DevicePresence): PresenceKeys {
    return { presence: this.keys.userPresence(d.tenant, d.user), conns: this.keys.userConns(d.tenant, d.user), index: this.indexKey };
  }

  /** A device's presence record (JSON), as every writer of it builds it. */
  private record(d: DevicePresence): string {
    return JSON.stringify({ platform: d.platform, node: d.node, conn: d.conn, since: d.since, boot: this.boot } satisfies DeviceRecord);
  }

  async join(tenant: string, room: string, m: RoomMember): Promise<void> {
    const key = this.keys.roomMembers(tenant, room);
    const field = RedisKeys.memberField(m.user, m.device);
    const json = JSON.stringify({ node: m.node, boot: this.boot } satisfies MemberRecord);
    if (!this.members.has(key + '\u0000' + field)) bump(this.roomMembersLocal, key, 1);
    this.members.set(key + '\u0000' + field, { key, field, json });
    await Promise.all([this.client.hset(key, field, json), this.client.pexpire(key, this.opts.keyTtlMs)]);
  }

  /** Sets or clears a member's awareness state: the member record is rewritten (if still this node's). */
  async state(tenant: string, room: string, m: RoomMember, state: string | undefined): Promise<void> {
    const key = this.keys.roomMembers(tenant, room);
    const field = RedisKeys.memberField(m.user, m.device);
    const own = this.members.get(key + '\u0000' + field);
    if (!own) return; // not (or no longer) a member here
    own.json = JSON.stringify({ node: m.node, boot: this.boot, ...(state !== undefined ? { s: state } : {}) } satisfies MemberRecord);
    await (this.client as unknown as WithScripts).heraldHsetIfMine(key, field, own.json, 'node', this.nodeId, this.opts.keyTtlMs);
  }

  async leave(tenant: string, room: string, m: RoomMember): Promise<void> {
    const key = this.keys.roomMembers(tenant, room);
    const field = RedisKeys.memberField(m.user, m.device);
    if (this.members.delete(key + '\u0000' + field)) bump(this.roomMembersLocal, key, -1);
    await (this.client as unknown as WithScripts).heraldHdelIf(key, field, 'node', m.node);
  }

  async userDevices(tenant: string, user: string): Promise<DevicePresence[]> {
    return this.devicesOf(tenant, user, await this.client.hgetall(this.keys.userPresence(tenant, user)));
  }

  /** The live devices in a user's presence hash as read (`all`: field → record); dead records are swept. */
  async devicesOf(tenant: string, user: string, all: Record<string, string>): Promise<DevicePresence[]> {
    const key = this.keys.userPresence(tenant, user);
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
        out.push({ user, device, node: rec.node, ...(rec.s !== undefined ? { state: rec.s } : {}) });
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
          const [count, boot] = v.split('|');
          if (boot !== undefined && (await this.isLive(node, boot))) n += Number(count) || 0;
        }
        return n;
      }
    }
  }

  /** Every live node's last report (connections, users, rooms), for the admin view. */
  async nodes(): Promise<{ node: string; connections: number; rooms: number; users: number; updatedAt: number }[]> {
    const reports = await this.client.hgetall(this.keys.allCounts());
    const out: { node: string; connections: number; rooms: number; users: number; updatedAt: number }[] = [];
    for (const [node, v] of Object.entries(reports)) {
      const [count, boot, users, rooms, at] = v.split('|');
      if (boot === undefined || !(await this.isLive(node, boot))) continue;
      out.push({ node, connections: Number(count) || 0, users: Number(users) || 0, rooms: Number(rooms) || 0, updatedAt: Number(at) || 0 });
    }
    return out.sort((x, y) => x.node.localeCompare(y.node));
  }

  private async isLive(node: string, boot: string): Promise<boolean> {
    if (node === this.nodeId) return boot === this.boot;
    const now = Date.now();
    const hit = this.liveCache.get(node);
    if (hit && now - hit.at < 1000 && (hit.boot === boot || now - hit.at < 100)) return hit.boot === boot;
    // Unknown, stale, or a mismatch seen through an older answer (the node may have just restarted
    // with a new boot id): ask Redis, so a live record is never judged — and swept — on a stale answer.
    const b = await this.client.get(this.keys.nodeAlive(node));
    if (this.liveCache.size > 10_000) this.liveCache.clear();
    this.liveCache.set(node, { boot: b, at: Date.now() });
    return b === boot;
  }

  /** Deletes records of dead node incarnations (best effort; compared by boot id so a record rewritten meanwhile stays). */
  private sweep(dead: [string, string, string, string][]): void {
    for (const [key, field, prop, expected] of dead) {
      (this.client as unknown as WithScripts).heraldHdelIf(key, field, prop, expected).catch(() => {});
    }
  }
}

/** A connection's entry in its node incarnation's index (what the reaper needs). */
function indexedRecord(d: DevicePresence): string {
  return JSON.stringify({ tenant: d.tenant, user: d.user, device: d.device, platform: d.platform, since: d.since } satisfies IndexedConn);
}

function bump(m: Map<string, number>, k: string, by: number): void {
  const n = (m.get(k) ?? 0) + by;
  if (n > 0) m.set(k, n);
  else m.delete(k);
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
