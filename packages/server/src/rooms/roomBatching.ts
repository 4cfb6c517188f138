/**
 * The room batching window (config `roomBatchWindowMs`, off by default; issue
 * 20): room messages published within the window reach each member of the
 * room as one `batch` frame (v1) / Batch frame (v2, docs/protocol-v2.md)
 * instead of one frame each. For very high-rate rooms: a member then pays one
 * frame, one parse and one write per window rather than per message; the
 * price is up to `roomBatchWindowMs` of added latency.
 *
 * Order is kept: within a room, a frame that is not batched (a presence or
 * awareness event, a platform-targeted message) first sends what is pending
 * for that room. A lone message in a window goes as an ordinary message frame.
 * While a member recovers room history (room holds), batches are sent as their
 * single messages, through the holds. The batch goes to the members at the
 * moment it is sent. Server-Sent Events sessions get one event per message
 * (EncodedFrame.ofBatch). Reliable messages never come here: only ephemeral
 * room frames go through the hub's room route.
 *
 * Cost: one pending entry and one timer per room with messages in the window,
 * nothing per connection.
 */
import type { DeliveryHub } from '../delivery/hub.js';
import type { Route } from '../engine/types.js';
import { EncodedFrame } from '../protocol/encodedFrame.js';

type RoomRoute = Extract<Route, { kind: 'room' }>;

interface Pending {
  route: RoomRoute;
  frames: string[];
  /** JSON text length of `frames`. */
  bytes: number;
  /** Publish time of the oldest frame (the latency metric reports the worst). */
  publishedAt: number | undefined;
  timer: NodeJS.Timeout;
}

const MESSAGE_START = '{"type":"message"';

export class RoomBatcher {
  private readonly pending = new Map<string, Pending>();
  /** Set while a batch is written: the hub's writes then go straight out. */
  private flushing = false;

  constructor(
    private readonly hub: DeliveryHub,
    private readonly windowMs: number,
    private readonly maxBytes: number,
  ) {}

  /** Installs the window on the hub's room deliveries. */
  install(): void {
    this.hub.roomBatch = (route, frame, publishedAt) => this.take(route, frame, publishedAt);
  }

  /**
   * The hub's hook: true when `frame` joined the room's batch (it is sent
   * later); false when the hub must write it now — after whatever was pending
   * for the room, which goes first.
   */
  take(route: RoomRoute, frame: string, publishedAt: number | undefined): boolean {
    if (this.flushing) return false;
    const key = route.tenant + '\u0000' + route.room;
    let p = this.pending.get(key);
    if (route.platform !== undefined || !frame.startsWith(MESSAGE_START) || !this.hub.roomHolds.empty) {
      if (p !== undefined) this.send(key, p);
      return false;
    }
    if (p === undefined) {
      const timer = setTimeout(() => {
        const q = this.pending.get(key);
        if (q !== undefined) this.send(key, q);
      }, this.windowMs);
      timer.unref();
      p = { route: { kind: 'room', tenant: route.tenant, room: route.room }, frames: [], bytes: 0, publishedAt, timer };
      this.pending.set(key, p);
    }
    p.frames.push(frame);
    p.bytes += frame.length;
    if (p.bytes >= this.maxBytes) this.send(key, p);
    return true;
  }

  /** Rooms with a batch waiting (metrics, tests). */
  get pendingRooms(): number {
    return this.pending.size;
  }

  /** Sends every pending batch now (tests). */
  flushAll(): void {
    for (const [key, p] of [...this.pending]) this.send(key, p);
  }

  /**
   * Graceful drain, before clients are closed: sends what is pending and
   * uninstalls the window, so messages that still arrive during the drain go
   * straight out rather than into a window their members may not outlive.
   */
  stop(): void {
    if (this.hub.roomBatch !== undefined) this.hub.roomBatch = undefined;
    this.flushAll();
  }

  private send(key: string, p: Pending): void {
    this.pending.delete(key);
    clearTimeout(p.timer);
    this.flushing = true;
    try {
      if (p.frames.length === 1 || !this.hub.roomHolds.empty) {
        for (const f of p.frames) this.hub.deliverLocal(p.route, f, p.publishedAt);
      } else {
        this.hub.deliverLocal(p.route, EncodedFrame.ofBatch(p.frames), p.publishedAt, p.frames.length);
      }
    } finally {
      this.flushing = false;
    }
  }
}
