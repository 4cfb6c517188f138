/**
 * The delivery hub: the one place a node writes to its sessions. Every caller
 * that fans out — the publish pipeline, client room publishes, presence
 * events, API disconnects, events from other nodes — goes through it, and
 * `broadcast` is the one "deliver here and tell the other nodes".
 *
 * It is also the shared host of every device's ReliableStream (inbox, timing
 * wheel, settings, encodings, lifecycle events): one object, not one per
 * stream or per codec.
 */
import { CloseCode } from '@herald/protocol';
import type { Bus, BusEvent, InboxMessage, InboxStore, Route } from '../engine/types.js';
import type { LifecycleEvents } from '../events/lifecycle.js';
import type { Logger } from '../observability/logger.js';
import type { Stats } from '../observability/stats.js';
import type { Metrics } from '../observability/metrics.js';
import { EncodedFrame, ReliableEncodings } from '../protocol/encodedFrame.js';
import type { TimingWheel } from '../runtime/timingWheel.js';
import type { Registry } from './registry.js';
import { RoomHolds } from './roomHolds.js';
import type { ReliableHost, ReliableSettings } from './reliableStream.js';
import type { DeliverySession } from './session.js';

export interface HubDeps {
  registry: Registry;
  bus: Bus;
  inbox: InboxStore;
  wheel: TimingWheel;
  settings: ReliableSettings;
  events: LifecycleEvents;
  stats: Stats;
  metrics: Metrics;
  log: Logger;
}

/**
 * A bus whose hand-over is done when the call returns (the memory engine: one process, nothing
 * to send): `broadcastNow` calls it instead of `publish`, so an ephemeral publish costs no
 * promise for it (issue 20). It must do exactly what `publish` would, throwing what it would reject with.
 */
export interface SyncBus {
  publishNow?(event: BusEvent): void;
}

export class DeliveryHub implements ReliableHost {
  readonly encodings = new ReliableEncodings();
  /** Room recovery in progress: live room frames held per session (roomHolds.ts). */
  readonly roomHolds = new RoomHolds();
  readonly registry: Registry;
  readonly inbox: InboxStore;
  readonly wheel: TimingWheel;
  readonly settings: ReliableSettings;
  readonly events: LifecycleEvents;
  readonly log: Logger;
  /** Awareness state events from other nodes go to rooms/awareness.ts, which registers here (delivery knows no rooms). */
  onStateEvent: ((ev: Extract<BusEvent, { kind: 'state' }>) => void) | undefined;
  /**
   * The room batching window (rooms/roomBatching.ts) registers here when configured: it takes a room
   * frame to send later in a batch (true), or declines (false: written now, after the room's pending batch).
   */
  roomBatch: ((route: Extract<Route, { kind: 'room' }>, frame: string, publishedAt: number | undefined) => boolean) | undefined;

  constructor(private readonly d: HubDeps) {
    this.registry = d.registry;
    this.inbox = d.inbox;
    this.wheel = d.wheel;
    this.settings = d.settings;
    this.events = d.events;
    this.log = d.log;
  }

  /**
   * Writes an ephemeral frame (v1 text, or already encoded) to every local
   * session on the route: each encoding is built once, at the first recipient
   * that needs it. Returns how many sessions took it (0 when the room
   * batching window took it: written later). `messages`: how many messages
   * the frame carries (a room batch), for the delivery counts.
   */
  deliverLocal(route: Route, frame: string | EncodedFrame, publishedAt?: number, messages = 1): number {
    if (this.roomBatch !== undefined && route.kind === 'room' && typeof frame === 'string' && this.roomBatch(route, frame, publishedAt)) return 0;
    const encoded = typeof frame === 'string' ? EncodedFrame.ofText(frame) : frame;
    const holds = route.kind === 'room' && typeof frame === 'string' && !this.roomHolds.empty ? this.roomHolds : undefined;
    let n = 0;
    // A lone session (most users, most devices) is written without a list to walk.
    const members = route.kind === 'all' ? this.registry.all() : this.registry.members(route);
    if (members === undefined) n = 0;
    else if (members instanceof Set || route.kind === 'all') for (const s of members as Iterable<DeliverySession>) n += this.offer(s, encoded, route, holds, frame);
    else n = this.offer(members as DeliverySession, encoded, route, holds, frame);
    const stats = this.d.stats;
    const delivered = n * messages;
    stats.deliveredEphemeral += delivered;
    switch (route.kind) {
      case 'user':
        if (route.device !== undefined) stats.deliveredEphemeralTo.device += delivered;
        else stats.deliveredEphemeralTo.user += delivered;
        break;
      case 'room':
        stats.deliveredEphemeralTo.room += delivered;
        break;
      case 'tenant':
        stats.deliveredEphemeralTo.tenant += delivered;
        break;
      case 'all':
        stats.deliveredEphemeralTo.all += delivered;
    }
    if (n > 0 && publishedAt !== undefined) this.d.metrics.deliverLatency.observe((Date.now() - publishedAt) / 1000);
    return n;
  }

  /** One session of a fan-out: 1 when it took the frame. */
  private offer(s: DeliverySession, encoded: EncodedFrame, route: Route, holds: RoomHolds | undefined, frame: string | EncodedFrame): number {
    if (s.state !== 'active' || (route.platform !== undefined && s.platform !== route.platform) || (holds && holds.take(s, (route as { room: string }).room, frame as string))) return 0;
    return s.send(encoded) ? 1 : 0;
  }

  /**
   * Local write plus every other node interested in the route. Resolves with
   * the local count once the frame is handed to the transport; rejects when
   * the transport refused it (the local write happened regardless).
   */
  async broadcast(route: Route, text: string, publishedAt?: number): Promise<number> {
    const local = this.deliverLocal(route, text, publishedAt);
    await this.d.bus.publish({ kind: 'deliver', route, frame: text });
    return local;
  }

  /**
   * `broadcast` without a promise when the bus hands over synchronously (SyncBus): the local
   * count, or undefined (nothing done) when the bus has no `publishNow`.
   */
  broadcastNow(route: Route, text: string, publishedAt?: number): number | undefined {
    const bus = this.d.bus as Bus & SyncBus;
    if (bus.publishNow === undefined) return undefined;
    const local = this.deliverLocal(route, text, publishedAt);
    bus.publishNow({ kind: 'deliver', route, frame: text });
    return local;
  }

  /** `broadcast` for callers that do not wait: a transport failure is logged, not thrown. */
  broadcastQuietly(route: Route, text: string, publishedAt?: number): void {
    this.broadcast(route, text, publishedAt).catch((err: unknown) => this.log.warn({ err }, 'cross-node publish failed'));
  }

  /** Offers a newly stored reliable message to the user's local devices. */
  deliverInbox(tenant: string, user: string, m: InboxMessage): void {
    let local = false;
    for (const s of this.registry.lookup({ kind: 'user', tenant, user })) {
      local = true;
      s.reliable?.offer(m);
    }
    if (local) this.d.metrics.ackClock.stored(tenant, user, m.seq, m.ts); // publish → ack latency sample
  }

  /** Closes a user's (or one device's) sessions here and on every other node (API disconnect). Resolves with the local count. */
  async disconnect(tenant: string, user: string, device: string | undefined, code: number, reason: string): Promise<number> {
    const local = this.disconnectLocal(tenant, user, device, code, reason);
    await this.d.bus.publish({ kind: 'disconnect', tenant, user, ...(device !== undefined ? { device } : {}), code, reason });
    return local;
  }

  /** Closes local sessions of a user (or one device). */
  disconnectLocal(tenant: string, user: string, device: string | undefined, code: number, reason: string): number {
    let n = 0;
    for (const s of [...this.registry.lookup({ kind: 'user', tenant, user, ...(device !== undefined ? { device } : {}) })]) {
      s.close(code, reason);
      n++;
    }
    return n;
  }

  /**
   * Another node accepted `conn` (connected at `at`) for this user+device: ours, unless it is the
   * newer one, leaves every index at once and closes 4004.
   */
  replaceLocal(tenant: string, user: string, device: string, conn: string, at?: number): void {
    const s = this.registry.device(tenant, user, device);
    if (s && s.id !== conn && (at === undefined || s.connectedAt <= at)) s.evict(CloseCode.Replaced, 'replaced: the same user and device connected on another node');
  }

  /** After the transport missed events (an outage): every device re-reads its inbox. */
  resyncAll(): void {
    for (const s of this.registry.all()) s.reliable?.poke();
  }

  /** Events from other nodes. */
  onBusEvent(ev: BusEvent): void {
    switch (ev.kind) {
      case 'deliver':
        this.deliverLocal(ev.route, ev.frame);
        return;
      case 'inbox':
        this.deliverInbox(ev.tenant, ev.user, ev.message);
        return;
      case 'disconnect':
        this.disconnectLocal(ev.tenant, ev.user, ev.device, ev.code, ev.reason);
        return;
      case 'replace':
        this.replaceLocal(ev.tenant, ev.user, ev.device, ev.conn, ev.at);
        return;
      case 'state':
        this.onStateEvent?.(ev);
        return;
    }
  }
}
