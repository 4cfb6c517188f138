/**
 * The default engine: one process, no dependencies. Inboxes, cursors and
 * idempotency keys live in this process and die with it (docs/delivery.md).
 * There are no other nodes, so publish/subscribe do nothing and presence is
 * the local registry's view.
 */
import type { BusEvent, DevicePresence, Engine, EngineIntrospection, InboxInspection, InboxRange, LocalView, NewInboxMessage, Retention, RoomMember, Route, AppendOnce, StoredMessage } from '../types.js';
import { ApiError } from '../../errors.js';
import { MemoryInboxStore, StoreFullError } from './inbox.js';
import { MemoryRoomHistory } from './roomHistory.js';

import type { PayloadCodec } from '../payloadCodec.js';
export interface MemoryEngineOptions {
  /** Bound on the accounted bytes of all stored reliable messages (0: none). */
  maxStoredBytes?: number;
  /** Compression of stored payloads (engine/payloadCodec.ts); default: plain. */
  payloadCodec?: PayloadCodec;
  /** Bound on the accounted bytes of all room history (0: none). */
  roomHistoryMaxTotalBytes?: number;
}

export class MemoryEngine implements Engine {
  readonly kind = 'memory' as const;
  readonly introspection: EngineIntrospection = {
    inboxDepth: () => this.inboxDepth(),
    inspectInbox: (tenant, user, devices, max) => this.inspectInbox(tenant, user, devices, max),
  };
  readonly roomHistory: MemoryRoomHistory;
  private readonly inbox: MemoryInboxStore;
  /** tenant\0room → user\0device → awareness state (JSON text) of members on this node. */
  private readonly states = new Map<string, Map<string, string>>();
  /** tenant → user → device → highest acked seq (per user, so a user's devices are found at once; no key string per ack). */
  private readonly cursors = new Map<string, Map<string, DeviceCursors>>();
  private readonly idempotency = new Map<string, { result?: string; expiresAt: number }>();
  /** Appends made once per user and key (AppendOnce): userKey \0 key → the stored seq and id. */
  private readonly appended = new Map<string, { seq: number; id: string; expiresAt: number }>();
  /**
   * Connections per user (tenant → user → count): presenceAdd/Remove decide online/offline from it.
   * Keyed by the caller's own strings: a `tenant\0user` key cost ~50 bytes per user (issue 20).
   */
  private readonly userConns = new Map<string, Map<string, number>>();
  private local: LocalView | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private lastRetention: Retention | undefined;

  constructor(opts: MemoryEngineOptions = {}) {
    this.inbox = new MemoryInboxStore(opts.maxStoredBytes ?? 0, opts.payloadCodec);
    this.roomHistory = new MemoryRoomHistory(opts.roomHistoryMaxTotalBytes ?? 0);
  }

  async start(_onEvent: (event: BusEvent) => void, local: LocalView): Promise<void> {
    this.local = local;
    // One coarse timer for housekeeping: age trims and expired idempotency keys.
    this.sweepTimer = setInterval(() => this.sweep(), 30_000);
    this.sweepTimer.unref();
  }

  async close(): Promise<void> {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
  }

  isReady(): boolean {
    return true;
  }

  async publish(_event: BusEvent): Promise<void> {}
  /** `publish` without the promise (delivery/hub.ts SyncBus): one process, nothing to hand over. */
  publishNow(_event: BusEvent): void {}
  subscribe(_route: Route): void {}
  unsubscribe(_route: Route): void {}

  /** Not async (once per reliable message): the append is done when it returns; a refusal is a rejection, never a throw. */
  append(tenant: string, user: string, message: NewInboxMessage, retention: Retention, once?: AppendOnce): Promise<StoredMessage> {
    try {
      return Promise.resolve(once === undefined ? this.appendNow(tenant, user, message, retention) : this.appendOnceNow(tenant, user, message, retention, once));
    } catch (err) {
      return Promise.reject(err instanceof StoreFullError ? new ApiError('storage_full', err.message) : err);
    }
  }

  /**
   * `append` without an idempotency key and without the promise (delivery/publisher.ts
   * SyncAppend): stored when it returns; a refusal is thrown, as `append` would reject with it.
   */
  appendNow(tenant: string, user: string, message: NewInboxMessage, retention: Retention): StoredMessage {
    this.lastRetention = retention;
    try {
      return this.inbox.append(tenant, user, message, retention, Date.now());
    } catch (err) {
      throw err instanceof StoreFullError ? new ApiError('storage_full', err.message) : err;
    }
  }

  private appendOnceNow(tenant: string, user: string, message: NewInboxMessage, retention: Retention, once: AppendOnce | undefined): StoredMessage {
    this.lastRetention = retention;
    const onceKey = once ? userKey(tenant, user) + '\u0000' + once.key : undefined;
    const now = Date.now();
    if (onceKey !== undefined) {
      const done = this.appended.get(onceKey);
      if (done && done.expiresAt > now) return { ...message, seq: done.seq, id: done.id, duplicate: true };
    }
    const stored = this.inbox.append(tenant, user, message, retention, now);
    if (onceKey !== undefined) this.appended.set(onceKey, { seq: stored.seq, id: stored.id, expiresAt: now + once!.ttlMs });
    return stored;
  }

  async readAfter(tenant: string, user: string, after: number, limit: number, retention: Retention): Promise<InboxRange> {
    return this.inbox.readAfter(tenant, user, after, limit, retention);
  }

  async getCursor(tenant: string, user: string, device: string): Promise<number | undefined> {
    return this.cursorsOf(tenant, user)?.get(device);
  }

  /** Not async (once per ack): the write is done when it returns; the promise is a settled one. */
  setCursor(tenant: string, user: string, device: string, seq: number): Promise<void> {
    this.setCursorNow(tenant, user, device, seq);
    return DONE;
  }

  /** `setCursor` without the promise: reliable streams call this one (delivery/reliableStream.ts SyncCursorStore). */
  setCursorNow(tenant: string, user: string, device: string, seq: number): void {
    let users = this.cursors.get(tenant);
    if (!users) this.cursors.set(tenant, (users = new Map()));
    const devices = users.get(user);
    if (!devices) {
      users.set(user, new DeviceCursors(device, seq));
      return;
    }
    const prev = devices.get(device);
    if (prev === undefined || seq > prev) devices.set(device, seq);
  }

  private cursorsOf(tenant: string, user: string): DeviceCursors | undefined {
    return this.cursors.get(tenant)?.get(user);
  }

  async deviceCursors(tenant: string, user: string): Promise<{ count: number; max: number }> {
    const devices = this.cursorsOf(tenant, user);
    return { count: devices?.size ?? 0, max: devices?.max() ?? 0 };
  }

  async firstForDevice(tenant: string, user: string, device: string, after: number, upTo: number): Promise<number | undefined> {
    return this.inbox.firstForDevice(tenant, user, device, after, upTo);
  }

  async idempotencyClaim(key: string, leaseMs: number): Promise<{ state: 'new' } | { state: 'pending' } | { state: 'done'; result: string }> {
    const now = Date.now();
    const entry = this.idempotency.get(key);
    if (entry && entry.expiresAt > now) return entry.result === undefined ? { state: 'pending' } : { state: 'done', result: entry.result };
    this.idempotency.set(key, { expiresAt: now + leaseMs });
    return { state: 'new' };
  }

  async idempotencyRenew(key: string, leaseMs: number): Promise<void> {
    const entry = this.idempotency.get(key);
    if (entry && entry.result === undefined) entry.expiresAt = Date.now() + leaseMs;
  }

  async idempotencyComplete(key: string, result: string, ttlMs: number): Promise<void> {
    this.idempotency.set(key, { result, expiresAt: Date.now() + ttlMs });
  }

  async idempotencyRelease(key: string): Promise<void> {
    this.idempotency.delete(key);
  }

  /** One process: the user's connection count here is the cluster's, so first/last are exact. */
  async presenceAdd(d: DevicePresence): Promise<boolean> {
    let users = this.userConns.get(d.tenant);
    if (!users) this.userConns.set(d.tenant, (users = new Map()));
    const n = (users.get(d.user) ?? 0) + 1;
    users.set(d.user, n);
    return n === 1;
  }
  async presenceRemove(d: DevicePresence): Promise<boolean> {
    const users = this.userConns.get(d.tenant);
    const n = (users?.get(d.user) ?? 0) - 1;
    if (n > 0) users!.set(d.user, n);
    else if (users) {
      users.delete(d.user);
      if (users.size === 0) this.userConns.delete(d.tenant);
    }
    return n === 0;
  }
  async roomJoin(_tenant: string, _room: string, _member: RoomMember): Promise<void> {}
  async roomLeave(tenant: string, room: string, member: RoomMember): Promise<void> {
    await this.roomState(tenant, room, member, undefined);
  }

  async roomState(tenant: string, room: string, member: RoomMember, state: string | undefined): Promise<void> {
    const key = tenant + '\u0000' + room;
    let members = this.states.get(key);
    if (state === undefined) {
      if (members?.delete(member.user + '\u0000' + member.device) && members.size === 0) this.states.delete(key);
      return;
    }
    if (!members) this.states.set(key, (members = new Map()));
    members.set(member.user + '\u0000' + member.device, state);
  }

  async userPresence(tenant: string, user: string): Promise<DevicePresence[]> {
    return this.view().userDevices(tenant, user);
  }

  async roomPresence(tenant: string, room: string): Promise<RoomMember[]> {
    const states = this.states.get(tenant + '\u0000' + room);
    const members = this.view().roomMembers(tenant, room);
    if (!states) return members;
    return members.map((m) => {
      const state = states.get(m.user + '\u0000' + m.device);
      return state === undefined ? m : { ...m, state };
    });
  }

  async onlineCount(route: Route): Promise<number> {
    return this.view().count(route);
  }

  /** `onlineCount` without the promise (delivery/publisher.ts SyncOnlineCount). */
  onlineCountNow(route: Route): number {
    return this.view().count(route);
  }

  /** The admin user lookup: depth, and each device's cursor and unacked count. */
  async inspectInbox(tenant: string, user: string, devices: string[], maxMessages: number): Promise<InboxInspection> {
    const cursors = devices.map((device) => ({ device, cursor: this.cursorsOf(tenant, user)?.get(device) }));
    const r = this.inbox.inspect(tenant, user, cursors.map((c) => ({ device: c.device, cursor: c.cursor ?? 0 })), maxMessages);
    return {
      depth: r.depth,
      tip: r.tip,
      floor: r.floor,
      truncated: r.truncated,
      devices: cursors.map((c, i) => ({ device: c.device, cursor: c.cursor ?? null, unacked: r.unacked[i]! })),
    };
  }

  /** Reliable messages held (for metrics). */
  inboxDepth(): number {
    return this.inbox.depth();
  }

  /** Accounted bytes of stored reliable messages (what memoryMaxStoredBytes bounds). */
  storedBytes(): number {
    return this.inbox.bytes();
  }

  /** Messages the inboxes still reference, dropped ones included if not released (tests). */
  referencedMessages(): number {
    return this.inbox.referenced();
  }

  private view(): LocalView {
    if (!this.local) throw new Error('memory engine used before start()');
    return this.local;
  }

  private sweep(): void {
    const now = Date.now();
    for (const [k, v] of this.idempotency) if (v.expiresAt <= now) this.idempotency.delete(k);
    for (const [k, v] of this.appended) if (v.expiresAt <= now) this.appended.delete(k);
    if (this.lastRetention) this.inbox.sweep(this.lastRetention, now);
    this.roomHistory.sweep(now);
  }
}

/** What a write that finished synchronously returns (one settled promise, not one per call). */
const DONE: Promise<void> = Promise.resolve();

function userKey(tenant: string, user: string): string {
  return tenant + '\u0000' + user;
}

/**
 * A user's device cursors: the first device's inline, a Map only from a second device on. Most
 * users have one device, and a Map holding one entry costs ~230 bytes per user (issue 20).
 */
class DeviceCursors {
  private more: Map<string, number> | undefined = undefined;

  constructor(
    private readonly device: string,
    private seq: number,
  ) {}

  get size(): number {
    return 1 + (this.more?.size ?? 0);
  }

  get(device: string): number | undefined {
    return device === this.device ? this.seq : this.more?.get(device);
  }

  set(device: string, seq: number): void {
    if (device === this.device) this.seq = seq;
    else (this.more ??= new Map()).set(device, seq);
  }

  /** The highest cursor of the user's devices (0 when all are 0). */
  max(): number {
    let max = this.seq > 0 ? this.seq : 0;
    if (this.more) for (const v of this.more.values()) if (v > max) max = v;
    return max;
  }
}
