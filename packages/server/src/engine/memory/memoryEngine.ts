/**
 * The default engine: one process, no dependencies. Inboxes, cursors and
 * idempotency keys live in this process and die with it (docs/delivery.md).
 * There are no other nodes, so publish/subscribe do nothing and presence is
 * the local registry's view.
 */
import type { BusEvent, DevicePresence, Engine, InboxInspection, InboxMessage, InboxRange, LocalView, NewInboxMessage, Retention, RoomMember, Route } from '../types.js';
import { MemoryInboxStore } from './inbox.js';

export class MemoryEngine implements Engine {
  readonly kind = 'memory' as const;
  private readonly inbox = new MemoryInboxStore();
  private readonly cursors = new Map<string, number>();
  private readonly idempotency = new Map<string, { result?: string; expiresAt: number }>();
  private local: LocalView | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private lastRetention: Retention | undefined;

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
  subscribe(_route: Route): void {}
  unsubscribe(_route: Route): void {}

  async append(tenant: string, user: string, message: NewInboxMessage, retention: Retention): Promise<InboxMessage> {
    this.lastRetention = retention;
    return this.inbox.append(tenant, user, message, retention);
  }

  async readAfter(tenant: string, user: string, after: number, limit: number, retention: Retention): Promise<InboxRange> {
    return this.inbox.readAfter(tenant, user, after, limit, retention);
  }

  async getCursor(tenant: string, user: string, device: string): Promise<number | undefined> {
    return this.cursors.get(cursorKey(tenant, user, device));
  }

  async setCursor(tenant: string, user: string, device: string, seq: number): Promise<void> {
    const key = cursorKey(tenant, user, device);
    const prev = this.cursors.get(key);
    if (prev === undefined || seq > prev) this.cursors.set(key, seq);
  }

  async idempotencyClaim(key: string, ttlMs: number): Promise<{ state: 'new' } | { state: 'pending' } | { state: 'done'; result: string }> {
    const now = Date.now();
    const entry = this.idempotency.get(key);
    if (entry && entry.expiresAt > now) return entry.result === undefined ? { state: 'pending' } : { state: 'done', result: entry.result };
    this.idempotency.set(key, { expiresAt: now + ttlMs });
    return { state: 'new' };
  }

  async idempotencyComplete(key: string, result: string, ttlMs: number): Promise<void> {
    this.idempotency.set(key, { result, expiresAt: Date.now() + ttlMs });
  }

  async idempotencyRelease(key: string): Promise<void> {
    this.idempotency.delete(key);
  }

  async presenceAdd(_device: DevicePresence): Promise<void> {}
  async presenceRemove(_device: DevicePresence): Promise<void> {}
  async roomJoin(_tenant: string, _room: string, _member: RoomMember): Promise<void> {}
  async roomLeave(_tenant: string, _room: string, _member: RoomMember): Promise<void> {}

  async userPresence(tenant: string, user: string): Promise<DevicePresence[]> {
    return this.view().userDevices(tenant, user);
  }

  async roomPresence(tenant: string, room: string): Promise<RoomMember[]> {
    return this.view().roomMembers(tenant, room);
  }

  async onlineCount(route: Route): Promise<number> {
    return this.view().count(route);
  }

  /** The admin user lookup: depth, and each device's cursor and unacked count. */
  async inspectInbox(tenant: string, user: string, devices: string[], maxMessages: number): Promise<InboxInspection> {
    const cursors = devices.map((device) => ({ device, cursor: this.cursors.get(cursorKey(tenant, user, device)) }));
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

  private view(): LocalView {
    if (!this.local) throw new Error('memory engine used before start()');
    return this.local;
  }

  private sweep(): void {
    const now = Date.now();
    for (const [k, v] of this.idempotency) if (v.expiresAt <= now) this.idempotency.delete(k);
    if (this.lastRetention) this.inbox.sweep(this.lastRetention, now);
  }
}

function cursorKey(tenant: string, user: string, device: string): string {
  return tenant + '\u0000' + user + '\u0000' + device;
}
