/**
 * Client frames of an active connection: ack, sync, join, leave, publish,
 * presence, ping and token refresh (auth). Bad input gets an error frame
 * naming the problem; nothing else about the connection changes. Room frames
 * go to Rooms; the rest is here.
 */
import { CloseCode, ErrorCode, type ClientFrame } from '@herald/protocol';
import { AckError, type ReliableSettings } from '../delivery/reliableStream.js';
import { resolveStartPoint } from '../delivery/startPoint.js';
import { AuthError, type Identity, type JwtVerifier } from '../auth/jwtVerifier.js';
import type { HeraldConfig } from '../config/schema.js';
import type { InboxStore } from '../engine/types.js';
import type { Stats } from '../observability/stats.js';
import { errorFrame, PONG_FRAME, replyFrame } from '../protocol/serverFrames.js';
import type { FrameOrder } from '../hooks/frameOrder.js';
import type { RpcFrames } from '../hooks/rpcFrames.js';
// Frames of every transport's sessions: WebSocket frames, and SSE clients' frames posted over HTTP.
import type { GatewaySession as Connection } from './gatewaySession.js';
import type { Rooms } from './rooms.js';

export interface FrameHandlerDeps {
  config: HeraldConfig;
  verifier: JwtVerifier;
  inbox: InboxStore;
  settings: ReliableSettings;
  stats: Stats;
}

export class FrameHandler {
  /** Set once Rooms exists (it answers refusals through this handler). */
  rooms!: Rooms;
  /** Set by the gateway: keeps join/leave/publish of a connection in order when hooks make them asynchronous. */
  order!: FrameOrder<Connection>;
  /** Set by the gateway: `rpc` frames (the RPC hook). */
  rpc!: RpcFrames<Connection>;

  constructor(private readonly d: FrameHandlerDeps) {}

  /**
   * Handles one valid frame. Returns the promise of an asynchronous handler so
   * the caller can isolate its failure (close 1011) like a synchronous throw.
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
        return this.inOrder(c, () => this.rooms.join(c, f.room, f.id, f.since), f.id);
      case 'leave':
        return this.inOrder(c, () => this.rooms.leave(c, f.room, f.id), f.id);
      case 'publish':
        return this.inOrder(c, () => this.rooms.publish(c, f.room, f, f.event, f.id), f.id);
      case 'rpc':
        return this.rpc.handle(c, f);
      case 'presence':
        return this.rooms.presence(c, f.room, f.id);
      case 'history':
        return this.rooms.history(c, f.room, f.limit, f.id);
      case 'state':
        this.rooms.state(c, f.room, f.data, f.id);
        return;
      case 'auth':
        return this.refresh(c, f.token, f.id);
    }
  }

  /** Runs a room frame after the ones of `c` still waiting for a hook; refuses it past the per-connection bound. */
  private inOrder(c: Connection, task: () => Promise<void> | void, id: string | undefined): undefined {
    if (!this.order.run(c, task)) this.refuse(c, ErrorCode.RateLimited, `at most ${this.d.config.hookMaxPendingPerConnection} frames may wait for hooks per connection`, id);
    return undefined;
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
      // The same resume rule as a connect: replay starts where the inbox still holds messages,
      // and the reply says when that is later than asked.
      const point = await resolveStartPoint(this.d.inbox, {
        tenant: c.tenant,
        user: c.user,
        device: c.device,
        requested: after,
        retention: this.d.settings.retention,
        newDeviceStart: this.d.config.newDeviceStart,
      });
      const from = stream.resync(after, point.start);
      if (id !== undefined) c.sendText(replyFrame(id, { last_seq: from, recovered: point.recovered }));
    } catch (err) {
      if (err instanceof AckError) this.refuse(c, ErrorCode.BadSync, err.message, id);
      else this.refuse(c, ErrorCode.Internal, 'inbox unavailable, try again', id);
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
    this.rooms.revoke(c);
    if (id !== undefined) c.sendText(replyFrame(id, { exp: identity.expiresAt }));
  }
}
