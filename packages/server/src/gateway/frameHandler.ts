/**
 * Client frames of an active connection: ack, sync, join, leave, publish,
 * presence, ping and token refresh (auth). Bad input gets an error frame
 * naming the problem; nothing else about the connection changes.
 */
import { randomUUID } from 'node:crypto';
import { CloseCode, ErrorCode, type ClientFrame } from '@herald/protocol';
import { AckError } from '../delivery/reliableStream.js';
import { AuthError, roomAllowed, type Identity } from '../auth/jwtVerifier.js';
import { errorFrame, messageFrame, PONG_FRAME, presenceEventFrame, replyFrame } from '../protocol/serverFrames.js';
import type { Connection } from './connection.js';
import type { Gateway, GatewayDeps } from './gateway.js';
import type { Route } from '../engine/types.js';

export class FrameHandler {
  constructor(
    private readonly gw: Gateway,
    private readonly d: GatewayDeps,
  ) {}

  /**
   * Handles one valid frame. Returns the promise of an asynchronous handler so
   * the gateway can isolate its failure (close 1011) like a synchronous throw.
   */
  handle(c: Connection, f: ClientFrame): Promise<void> | undefined {
    switch (f.type) {
      case 'ping':
        c.sendText(PONG_FRAME);
        return;
      case 'ack': {
        const refusal = this.ack(c, f.seq);
        if (refusal !== undefined) this.refuse(c, ErrorCode.BadAck, refusal);
        return;
      }
      case 'sync':
        return this.sync(c, f.after, f.id);
      case 'join':
        this.join(c, f.room, f.id);
        return;
      case 'leave':
        this.leave(c, f.room, f.id);
        return;
      case 'publish':
        this.publish(c, f.room, f.data, f.event, f.id);
        return;
      case 'presence':
        return this.presence(c, f.room, f.id);
      case 'auth':
        return this.refresh(c, f.token, f.id);
    }
  }

  /** A cumulative ack: undefined when valid, else why not (a seq beyond the last one sent). */
  ack(c: Connection, seq: number): string | undefined {
    try {
      c.reliable?.ack(seq);
      return undefined;
    } catch (err) {
      if (!(err instanceof AckError)) throw err;
      return err.message;
    }
  }

  refuse(c: Connection, code: string, message: string, id?: string): void {
    this.d.stats.bump(this.d.stats.protocolErrors, code);
    c.sendText(errorFrame(code, message, id));
  }

  private async sync(c: Connection, after: number, id?: string): Promise<void> {
    const stream = c.reliable;
    if (!stream) return;
    try {
      const head = await this.gw.engine.readAfter(c.tenant, c.user, Number.MAX_SAFE_INTEGER, 0, this.gw.settings.retention);
      // Replay starts where the inbox still holds messages; the reply says when that is later than asked.
      const from = stream.resync(after, head.floor);
      if (id !== undefined) c.sendText(replyFrame(id, { last_seq: from, recovered: after >= head.floor }));
    } catch (err) {
      if (err instanceof AckError) this.refuse(c, ErrorCode.BadSync, err.message, id);
      else this.refuse(c, ErrorCode.Internal, 'inbox unavailable, try again', id);
    }
  }

  private join(c: Connection, room: string, id?: string): void {
    if (!roomAllowed(c.allowRooms, room)) return this.refuse(c, ErrorCode.RoomForbidden, `room "${room}" is not in the token's allow-list`, id);
    if (c.rooms?.has(room)) {
      if (id !== undefined) c.sendText(replyFrame(id, { room }));
      return;
    }
    if ((c.rooms?.size ?? 0) >= this.d.config.maxRoomsPerConnection) {
      return this.refuse(c, ErrorCode.TooManyRooms, `at most ${this.d.config.maxRoomsPerConnection} rooms per connection`, id);
    }
    const first = this.gw.registry.join(c, room);
    const engine = this.gw.engine;
    if (first) engine.subscribe({ kind: 'room', tenant: c.tenant, room });
    engine.roomJoin(c.tenant, room, { user: c.user, device: c.device, node: this.gw.nodeId }).catch((err: unknown) => this.gw.log.warn({ err }, 'room join failed'));
    if (id !== undefined) c.sendText(replyFrame(id, { room }));
    this.presenceEvent(c, room, 'join');
  }

  private leave(c: Connection, room: string, id?: string): void {
    this.leaveRoom(c, room);
    if (id !== undefined) c.sendText(replyFrame(id, { room }));
  }

  /** Takes `c` out of `room` (a no-op when not in it): registry, engine, presence event to the members. */
  private leaveRoom(c: Connection, room: string): boolean {
    if (!c.rooms?.has(room)) return false;
    const last = this.gw.registry.leave(c, room);
    const engine = this.gw.engine;
    if (last) engine.unsubscribe({ kind: 'room', tenant: c.tenant, room });
    engine.roomLeave(c.tenant, room, { user: c.user, device: c.device, node: this.gw.nodeId }).catch((err: unknown) => this.gw.log.warn({ err }, 'room leave failed'));
    this.presenceEvent(c, room, 'leave');
    return true;
  }

  /** Tells room members that `c` joined or left, unless presence events are off or the room is too large. */
  presenceEvent(c: Connection, room: string, type: 'join' | 'leave'): void {
    const cfg = this.d.config;
    if (!cfg.roomPresenceEvents || this.gw.registry.roomSize(c.tenant, room) > cfg.roomPresenceMaxMembers) return;
    const text = presenceEventFrame({ type, room, user: c.user, device: c.device });
    this.broadcast({ kind: 'room', tenant: c.tenant, room }, text);
  }

  private publish(c: Connection, room: string, data: unknown, event: string | undefined, id?: string): void {
    if (!c.rooms?.has(room)) return this.refuse(c, ErrorCode.NotJoined, `join room "${room}" before publishing to it`, id);
    if (!this.d.limiter.clientPublish(c.tenant, c.user)) return this.refuse(c, ErrorCode.RateLimited, 'room publish rate limit exceeded; slow down', id);
    const json = JSON.stringify(data);
    if (json === undefined || Buffer.byteLength(json) > this.d.config.maxMessageBytes) {
      return this.refuse(c, ErrorCode.BadField, `field "data" must be JSON of at most ${this.d.config.maxMessageBytes} bytes`, id);
    }
    const msgId = randomUUID();
    const ts = Date.now();
    const text = messageFrame({ id: msgId, ts, room, from: c.user, data: json, ...(event !== undefined ? { event } : {}) });
    this.d.stats.bump(this.d.stats.published, 'room|false');
    this.broadcast({ kind: 'room', tenant: c.tenant, room }, text, ts);
    if (id !== undefined) c.sendText(replyFrame(id, { msg_id: msgId }));
  }

  private async presence(c: Connection, room: string, id?: string): Promise<void> {
    if (!roomAllowed(c.allowRooms, room)) return this.refuse(c, ErrorCode.RoomForbidden, `room "${room}" is not in the token's allow-list`, id);
    try {
      const members = await this.gw.engine.roomPresence(c.tenant, room);
      if (id !== undefined) c.sendText(replyFrame(id, { room, members: members.map((m) => ({ user: m.user, device: m.device })) }));
    } catch {
      this.refuse(c, ErrorCode.Internal, 'presence unavailable, try again', id);
    }
  }

  /**
   * A new token for the same identity extends the connection's lifetime and
   * replaces its room allow-list: rooms the new token no longer allows are
   * left at once, and the client gets a `leave` event for each.
   */
  private async refresh(c: Connection, token: string, id?: string): Promise<void> {
    let identity: Identity;
    try {
      identity = await this.d.verifier.verify(token);
    } catch (err) {
      c.close(CloseCode.Unauthorized, err instanceof AuthError ? err.message : 'token invalid');
      return;
    }
    if (identity.user !== c.user || identity.tenant !== c.tenant || (identity.device !== undefined && identity.device !== c.device)) {
      c.close(CloseCode.Forbidden, 'refreshed token names another identity');
      return;
    }
    if (c.state !== 'active') return; // closed while the token was checked
    c.expiresAt = identity.expiresAt;
    c.allowRooms = identity.rooms;
    this.revokeRooms(c);
    if (id !== undefined) c.sendText(replyFrame(id, { exp: identity.expiresAt }));
  }

  /** Leaves every joined room the connection's allow-list no longer names, telling the client. */
  private revokeRooms(c: Connection): void {
    if (!c.rooms || c.allowRooms === undefined) return;
    for (const room of [...c.rooms]) {
      if (roomAllowed(c.allowRooms, room) || !this.leaveRoom(c, room)) continue;
      // Always sent, presence events on or off: the client must learn it is out of the room.
      c.sendText(presenceEventFrame({ type: 'leave', room, user: c.user, device: c.device }));
    }
  }

  /** Local write plus the other nodes. */
  private broadcast(route: Route, text: string, ts?: number): void {
    this.gw.deliverLocal(route, text, ts);
    this.gw.engine.publish({ kind: 'deliver', route, frame: text }).catch((err: unknown) => this.gw.log.warn({ err }, 'cross-node publish failed'));
  }
}
