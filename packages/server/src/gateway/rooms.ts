/**
 * Rooms of a session: join, leave, client room publishes, presence queries
 * and the join/leave events members see. Membership lives in the registry
 * (this node) and the engine's presence (the cluster); frames go out through
 * the delivery hub.
 */
import { randomUUID } from 'node:crypto';
import { ErrorCode } from '@herald/protocol';
import { roomAllowed } from '../auth/jwtVerifier.js';
import type { HeraldConfig } from '../config/schema.js';
import type { DeliveryHub } from '../delivery/hub.js';
import type { Bus, PresenceStore } from '../engine/types.js';
import type { LifecycleEvents } from '../events/lifecycle.js';
import type { Limiter } from '../limits/limiter.js';
import type { Logger } from '../observability/logger.js';
import type { Stats } from '../observability/stats.js';
import { messageFrame, presenceEventFrame, replyFrame } from '../protocol/serverFrames.js';
// Rooms serve every transport's sessions (WebSocket and SSE).
import type { GatewaySession as Connection } from './gatewaySession.js';

export interface RoomsDeps {
  config: HeraldConfig;
  nodeId: string;
  hub: DeliveryHub;
  bus: Bus;
  presence: PresenceStore;
  events: LifecycleEvents;
  limiter: Limiter;
  stats: Stats;
  log: Logger;
  /** Answers a refused frame with an error frame (counted as a protocol error). */
  refuse(c: Connection, code: string, message: string, id?: string): void;
}

export class Rooms {
  constructor(private readonly d: RoomsDeps) {}

  join(c: Connection, room: string, id?: string): void {
    const d = this.d;
    if (!roomAllowed(c.allowRooms, room)) return d.refuse(c, ErrorCode.RoomForbidden, `room "${room}" is not in the token's allow-list`, id);
    if (c.rooms?.has(room)) {
      if (id !== undefined) c.sendText(replyFrame(id, { room }));
      return;
    }
    if ((c.rooms?.size ?? 0) >= d.config.maxRoomsPerConnection) {
      return d.refuse(c, ErrorCode.TooManyRooms, `at most ${d.config.maxRoomsPerConnection} rooms per connection`, id);
    }
    const first = d.hub.registry.join(c, room);
    if (first) void d.bus.subscribe({ kind: 'room', tenant: c.tenant, room });
    d.presence.roomJoin(c.tenant, room, { user: c.user, device: c.device, node: d.nodeId }).catch((err: unknown) => d.log.warn({ err }, 'room join failed'));
    if (id !== undefined) c.sendText(replyFrame(id, { room }));
    this.presenceEvent(c, room, 'join');
    d.events.joined(c, room);
  }

  leave(c: Connection, room: string, id?: string): void {
    this.leaveRoom(c, room);
    if (id !== undefined) c.sendText(replyFrame(id, { room }));
  }

  /** Takes `c` out of `room` (a no-op when not in it): registry, engine, presence event to the members. */
  leaveRoom(c: Connection, room: string): boolean {
    if (!c.rooms?.has(room)) return false;
    const d = this.d;
    const last = d.hub.registry.leave(c, room);
    if (last) d.bus.unsubscribe({ kind: 'room', tenant: c.tenant, room });
    this.leftCluster(c, room);
    return true;
  }

  /**
   * A session that left the registry (closed, replaced) leaves its rooms in the cluster: the engine's
   * member records, the members' leave events. The registry already dropped it from every room.
   */
  leaveAll(c: Connection, roomsEmptied: readonly string[]): void {
    for (const room of roomsEmptied) this.d.bus.unsubscribe({ kind: 'room', tenant: c.tenant, room });
    if (c.rooms) for (const room of c.rooms) this.leftCluster(c, room);
  }

  private leftCluster(c: Connection, room: string): void {
    const d = this.d;
    d.presence.roomLeave(c.tenant, room, { user: c.user, device: c.device, node: d.nodeId }).catch((err: unknown) => d.log.warn({ err }, 'room leave failed'));
    this.presenceEvent(c, room, 'leave');
    d.events.left(c, room);
  }

  /** Leaves every joined room the connection's allow-list no longer names, telling the client. */
  revoke(c: Connection): void {
    if (!c.rooms || c.allowRooms === undefined) return;
    for (const room of [...c.rooms]) {
      if (roomAllowed(c.allowRooms, room) || !this.leaveRoom(c, room)) continue;
      // Always sent, presence events on or off: the client must learn it is out of the room.
      c.sendText(presenceEventFrame({ type: 'leave', room, user: c.user, device: c.device }));
    }
  }

  /** Tells room members that `c` joined or left, unless presence events are off or the room is too large. */
  private presenceEvent(c: Connection, room: string, type: 'join' | 'leave'): void {
    const cfg = this.d.config;
    if (!cfg.roomPresenceEvents || this.d.hub.registry.roomSize(c.tenant, room) > cfg.roomPresenceMaxMembers) return;
    this.d.hub.broadcastQuietly({ kind: 'room', tenant: c.tenant, room }, presenceEventFrame({ type, room, user: c.user, device: c.device }));
  }

  publish(c: Connection, room: string, data: unknown, event: string | undefined, id?: string): void {
    const d = this.d;
    if (!c.rooms?.has(room)) return d.refuse(c, ErrorCode.NotJoined, `join room "${room}" before publishing to it`, id);
    if (!d.limiter.clientPublish(c.tenant, c.user)) return d.refuse(c, ErrorCode.RateLimited, 'room publish rate limit exceeded; slow down', id);
    const json = JSON.stringify(data);
    if (json === undefined || Buffer.byteLength(json) > d.config.maxMessageBytes) {
      return d.refuse(c, ErrorCode.BadField, `field "data" must be JSON of at most ${d.config.maxMessageBytes} bytes`, id);
    }
    const msgId = randomUUID();
    const ts = Date.now();
    const text = messageFrame({ id: msgId, ts, room, from: c.user, data: json, ...(event !== undefined ? { event } : {}) });
    d.stats.bump(d.stats.published, 'room|false');
    d.hub.broadcastQuietly({ kind: 'room', tenant: c.tenant, room }, text, ts);
    if (id !== undefined) c.sendText(replyFrame(id, { msg_id: msgId }));
    d.events.published(c, room, msgId, json, event);
  }

  async presence(c: Connection, room: string, id?: string): Promise<void> {
    const d = this.d;
    if (!roomAllowed(c.allowRooms, room)) return d.refuse(c, ErrorCode.RoomForbidden, `room "${room}" is not in the token's allow-list`, id);
    try {
      const members = await d.presence.roomPresence(c.tenant, room);
      if (id !== undefined) c.sendText(replyFrame(id, { room, members: members.map((m) => ({ user: m.user, device: m.device })) }));
    } catch {
      d.refuse(c, ErrorCode.Internal, 'presence unavailable, try again', id);
    }
  }
}
