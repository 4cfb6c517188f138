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
import { presenceEventFrame, replyFrame } from '../protocol/serverFrames.js';
import type { JoinHook } from '../hooks/joinHook.js';
import type { PublishHook } from '../hooks/publishHook.js';
// Rooms serve every transport's sessions (WebSocket and SSE).
import type { GatewaySession as Connection } from './gatewaySession.js';
import { payloadOf } from '../delivery/payload.js';
import type { Awareness } from '../rooms/awareness.js';
import { membersWithState } from '../rooms/awareness.js';
import type { RoomRecovery } from '../rooms/recovery.js';
import type { RoomPublisher } from '../rooms/roomPublish.js';

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
  /** Room history, recovery, client room publishes and awareness state (rooms/). */
  recovery: RoomRecovery;
  roomPublisher: RoomPublisher;
  awareness: Awareness;
  /** Answers a refused frame with an error frame (counted as a protocol error). */
  refuse(c: Connection, code: string, message: string, id?: string): void;
  /** The backend's say on joins and publishes (hooks/), when configured. */
  joinHook?: JoinHook | undefined;
  publishHook?: PublishHook | undefined;
}

export class Rooms {
  constructor(private readonly d: RoomsDeps) {}

  /** Asynchronous only with a join hook; the frame handler keeps a connection's room frames in order. */
  join(c: Connection, room: string, id?: string, since?: { offset: number; epoch: string }): Promise<void> | void {
    const d = this.d;
    if (c.state !== 'active') return; // queued behind a hook call that outlived the connection
    if (!roomAllowed(c.allowRooms, room)) return d.refuse(c, ErrorCode.RoomForbidden, `room "${room}" is not in the token's allow-list`, id);
    if (c.rooms?.has(room)) {
      if (id !== undefined) c.sendText(replyFrame(id, { room }));
      return;
    }
    if ((c.rooms?.size ?? 0) >= d.config.maxRoomsPerConnection) {
      return d.refuse(c, ErrorCode.TooManyRooms, `at most ${d.config.maxRoomsPerConnection} rooms per connection`, id);
    }
    if (d.joinHook !== undefined) return this.joinAsked(d.joinHook, c, room, id, since);
    this.joinNow(c, room, id, since);
  }

  /** The allow-list let the join through: the join hook decides. A claim refusal never reaches it. */
  private async joinAsked(hook: JoinHook, c: Connection, room: string, id?: string, since?: { offset: number; epoch: string }): Promise<void> {
    const refusal = await hook.check(c, room);
    if (c.state !== 'active') return;
    if (refusal !== undefined) return this.d.refuse(c, refusal.code, refusal.message, id);
    // A token refresh may have narrowed the allow-list while the backend answered.
    if (!roomAllowed(c.allowRooms, room)) return this.d.refuse(c, ErrorCode.RoomForbidden, `room "${room}" is not in the token's allow-list`, id);
    this.joinNow(c, room, id, since);
  }

  private joinNow(c: Connection, room: string, id?: string, since?: { offset: number; epoch: string }): void {
    const d = this.d;
    const history = d.recovery.hasHistory(room);
    const first = d.hub.registry.join(c, room);
    if (history) d.recovery.holdIfRecovering(c, room, since);
    // A history room is delivered from the engine's channel (Redis): its join answers once the subscription is confirmed.
    const subscribed = first || history ? d.bus.subscribe({ kind: 'room', tenant: c.tenant, room }) : undefined;
    d.presence.roomJoin(c.tenant, room, { user: c.user, device: c.device, node: d.nodeId }).catch((err: unknown) => d.log.warn({ err }, 'room join failed'));
    if (history) this.answerJoin(c, room, since, id, subscribed);
    else if (id !== undefined) c.sendText(replyFrame(id, { room, ...(since !== undefined ? { recovered: false } : {}) }));
    this.presenceEvent(c, room, 'join');
    d.events.joined(c, room);
  }

  /** The join reply of a history room: position, and the replay of a join with `since`. */
  private answerJoin(c: Connection, room: string, since: { offset: number; epoch: string } | undefined, id: string | undefined, subscribed: Promise<void> | void): void {
    const reply = (fields: Record<string, unknown>): void => {
      if (id !== undefined) c.sendText(replyFrame(id, { room, ...fields }));
    };
    this.d.recovery.answer(c, c.tenant, room, since, reply, subscribed).catch(() => this.d.refuse(c, ErrorCode.Internal, `joined, but the history of room "${room}" is unavailable`, id));
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
    d.hub.roomHolds.clear(c, room);
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
    this.d.hub.roomHolds.clearSession(c);
    if (c.rooms) for (const room of c.rooms) this.leftCluster(c, room);
  }

  private leftCluster(c: Connection, room: string): void {
    const d = this.d;
    d.presence.roomLeave(c.tenant, room, { user: c.user, device: c.device, node: d.nodeId }).catch((err: unknown) => d.log.warn({ err }, 'room leave failed'));
    d.awareness.left(c, room);
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
    if (!cfg.roomPresenceEvents || !this.d.limiter.live.feature(c.tenant, 'roomPresenceEvents') || this.d.hub.registry.roomSize(c.tenant, room) > cfg.roomPresenceMaxMembers) return;
    this.d.hub.broadcastQuietly({ kind: 'room', tenant: c.tenant, room }, presenceEventFrame({ type, room, user: c.user, device: c.device }));
  }

  /** Asynchronous only with a publish hook (kept in order like joins). */
  publish(c: Connection, room: string, body: { data?: unknown; data_b64?: string }, event: string | undefined, id?: string): Promise<void> | void {
    const d = this.d;
    if (c.state !== 'active') return;
    if (!c.rooms?.has(room)) return d.refuse(c, ErrorCode.NotJoined, `join room "${room}" before publishing to it`, id);
    if (!d.limiter.live.feature(c.tenant, 'roomPublish')) return d.refuse(c, ErrorCode.RoomForbidden, 'room publishes from clients are off for this tenant', id);
    if (!d.limiter.clientPublish(c.tenant, c.user)) return d.refuse(c, ErrorCode.RateLimited, 'room publish rate limit exceeded; slow down', id);
    const eventRefused = d.limiter.clientEvent(c.tenant, c.user, room, event);
    if (eventRefused) return d.refuse(c, ErrorCode.RateLimited, `event rate limit "${eventRefused.pattern}" (eventRateLimits, limit ${eventRefused.limit}) exceeded; retry in ${eventRefused.waitMs} ms`, id);
    const { data: json, binary, bytes, field } = payloadOf(body);
    if (json === undefined || bytes > d.config.maxMessageBytes) {
      return d.refuse(c, ErrorCode.BadField, `field "${field}" must be ${binary ? 'bytes' : 'JSON'} of at most ${d.config.maxMessageBytes} bytes`, id);
    }
    // The hook sees what members would: the JSON value, or for bytes their base64 (docs/hooks.md).
    if (d.publishHook !== undefined) return this.publishAsked(d.publishHook, c, room, binary ? body.data_b64 : body.data, json, binary, event, id);
    this.publishNow(c, room, json, binary, event, id);
  }

  /** The publish hook sees it before any member: it may refuse it (nobody gets it) or replace its data. */
  private async publishAsked(hook: PublishHook, c: Connection, room: string, data: unknown, original: string, binary: boolean, event: string | undefined, id?: string): Promise<void> {
    const d = this.d;
    const r = await hook.check(c, room, data);
    if (c.state !== 'active') return;
    if (!r.ok) return d.refuse(c, r.code, r.message, id);
    if (!c.rooms?.has(room)) return d.refuse(c, ErrorCode.NotJoined, `join room "${room}" before publishing to it`, id);
    // Replaced data is a JSON value, whatever the original was.
    const json = r.replaced ? JSON.stringify(r.data) : original;
    if (json === undefined || Buffer.byteLength(json) > d.config.maxMessageBytes) {
      return d.refuse(c, ErrorCode.Unavailable, `the publish hook answered data over ${d.config.maxMessageBytes} bytes`, id);
    }
    this.publishNow(c, room, json, r.replaced ? false : binary, event, id);
  }

  private publishNow(c: Connection, room: string, json: string, binary: boolean, event: string | undefined, id?: string): void {
    const d = this.d;
    const msgId = randomUUID();
    const ts = Date.now();
    d.stats.bump(d.stats.published, 'room|false');
    d.roomPublisher.publish({ kind: 'room', tenant: c.tenant, room }, { id: msgId, ts, from: c.user, data: json, ...(binary ? { binary } : {}), ...(event !== undefined ? { event } : {}) }).then(
      (r) => {
        if (id !== undefined) c.sendText(replyFrame(id, { msg_id: msgId, ...(r.offset !== undefined ? { offset: r.offset, epoch: r.epoch } : {}) }));
      },
      (err: unknown) => {
        d.log.warn({ err }, 'room publish failed');
        d.refuse(c, ErrorCode.Internal, 'room publish failed, try again', id);
      },
    );
    d.events.published(c, room, msgId, json, event);
  }

  /** The newest `limit` messages of a room's history, oldest first. */
  async history(c: Connection, room: string, limit: number | undefined, id?: string): Promise<void> {
    const d = this.d;
    if (!roomAllowed(c.allowRooms, room)) return d.refuse(c, ErrorCode.RoomForbidden, `room "${room}" is not in the token's allow-list`, id);
    const max = d.config.roomHistoryMaxLimit;
    if (limit !== undefined && limit > max) return d.refuse(c, ErrorCode.BadField, `field "limit" must be 1-${max}`, id);
    let frames: string[];
    try {
      frames = await d.recovery.history(c.tenant, room, limit ?? max);
    } catch {
      return d.refuse(c, ErrorCode.Internal, 'history unavailable, try again', id);
    }
    // The stored frames are the messages' JSON: spliced in, not parsed and re-serialized.
    if (id !== undefined) c.sendText(replyFrame(id, { room }).slice(0, -1) + ',"messages":[' + frames.join(',') + ']}');
  }

  /** Awareness state of `c` in a room it is a member of. */
  state(c: Connection, room: string, data: unknown, id?: string): void {
    const refusal = this.d.awareness.set(c, room, data);
    if (refusal) return this.d.refuse(c, refusal.code, refusal.message, id);
    if (id !== undefined) c.sendText(replyFrame(id, { room }));
  }

  async presence(c: Connection, room: string, id?: string): Promise<void> {
    const d = this.d;
    if (!roomAllowed(c.allowRooms, room)) return d.refuse(c, ErrorCode.RoomForbidden, `room "${room}" is not in the token's allow-list`, id);
    try {
      const members = await d.presence.roomPresence(c.tenant, room);
      // States shown to a member are cleared for it if their node dies (rooms/awareness.ts).
      if (c.rooms?.has(room)) d.awareness.listed(c, room, members).catch((err: unknown) => d.log.debug({ err }, 'listed states not watched'));
      if (id !== undefined) c.sendText(replyFrame(id, { room, members: membersWithState(members) }));
    } catch {
      d.refuse(c, ErrorCode.Internal, 'presence unavailable, try again', id);
    }
  }
}
