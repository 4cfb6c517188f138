/**
 * Ingress: every WebSocket message a client sends — decoded (v1 text or v2
 * binary), depth- and size-bounded, charged against the frame rate, and
 * dispatched. Every handler runs inside one guard: an unexpected exception
 * closes that one connection 1011 and is logged and counted; it never reaches
 * ws's emitter, where it would kill the process.
 */
import type { RawData } from 'ws';
import { BINARY_SUBPROTOCOL, BinaryProtocolError, CloseCode, ErrorCode, type ClientFrame } from '@herald/protocol';
import type { HeraldConfig } from '../config/schema.js';
import type { Limiter } from '../limits/limiter.js';
import { countInternalError } from '../observability/lastResort.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { Stats } from '../observability/stats.js';
import { parseClientFrame, plainAckSeqOf, ProtocolViolation, validateClientFrame } from '../protocol/clientFrames.js';
import { errorFrame } from '../protocol/serverFrames.js';
import type { V2Codecs, V2Session } from '../protocol/v2Frames.js';
import type { Connection } from './connection.js';
import type { FrameHandler } from './frameHandler.js';
import { MAX_EARLY_FRAMES } from './sessions.js';

export interface IngressDeps {
  config: HeraldConfig;
  v2: V2Codecs;
  frames: FrameHandler;
  limiter: Limiter;
  stats: Stats;
  metrics: Metrics;
  log: Logger;
  /** An `auth` frame on a connection still authenticating. */
  authenticate(conn: Connection, token: string): void;
}

export class Ingress {
  constructor(private readonly d: IngressDeps) {}

  /**
   * One client WebSocket message, inside the guard. (One function rather than a guard calling the
   * handler: this runs once per ack, and every call level counts there — issue 20.)
   */
  onMessage(conn: Connection, data: RawData, isBinary: boolean): void {
    try {
      const d = this.d;
      conn.lastSeen = Date.now();
      if (conn.early) {
        // Authentication is in progress: frames pipelined behind the token wait for the welcome.
        if (conn.early.length >= MAX_EARLY_FRAMES) conn.close(CloseCode.ProtocolError, 'too many frames before the welcome');
        else conn.early.push([data, isBinary]);
        return;
      }
      if (conn.state === 'authenticating' && frameBytes(data) > d.config.maxPreAuthBytes) {
        d.limiter.reject('pre_auth_bytes');
        conn.close(CloseCode.MessageTooBig, `frames before the welcome are limited to ${d.config.maxPreAuthBytes} bytes`);
        return;
      }
      if (conn.v2 !== undefined) {
        const f = this.decodeV2(conn, conn.v2, data, isBinary);
        if (f !== undefined) this.onFrame(conn, f);
        return;
      }
      if (isBinary) {
        conn.close(CloseCode.ProtocolError, 'binary frames need the herald.v2.bin subprotocol');
        return;
      }
      // The most frequent frame (one per reliable message), exactly as the SDK writes it: read from
      // its bytes, with no string and no frame object (the same as parseClientFrame's
      // { type: 'ack', seq } through onFrame; such a text is never the bare 'ping' below).
      if (conn.state === 'active') {
        const seq = plainAckSeqOf(data as Buffer);
        if (seq >= 0) {
          this.ack(conn, seq);
          return;
        }
      }
      // ws validated the text frame's UTF-8; toString() without an encoding decodes it directly.
      const text = (data as Buffer).toString();
      // Bare-text keepalive: the cheapest possible heartbeat for constrained devices.
      if (text === 'ping') {
        if (conn.state === 'active' && this.charge(conn)) conn.sendText('pong');
        return;
      }
      let frame: ClientFrame;
      try {
        frame = parseClientFrame(text, d.config.maxJsonDepth);
      } catch (err) {
        this.refuseFrame(conn, err);
        return;
      }
      this.onFrame(conn, frame);
    } catch (err) {
      this.failed(conn, err);
    }
  }

  /**
   * An ack of an active connection. Valid acks are exempt from the frame rate: a device acking
   * what we sent must never be punished for it.
   */
  private ack(conn: Connection, seq: number): void {
    const refusal = conn.reliable?.tryAck(seq);
    if (refusal === undefined) this.d.metrics.ackClock.acked(conn.tenant, conn.user, seq);
    else this.refuseAck(conn, refusal);
  }

  /** An ack of a seq never sent is no ack: it costs like any frame before it is answered. */
  private refuseAck(conn: Connection, refusal: string): void {
    if (this.charge(conn)) this.d.frames.refuse(conn, ErrorCode.BadAck, refusal);
  }

  /** A handler of `conn`'s frame failed unexpectedly (a bug, not bad input): close that connection only. */
  failed(conn: Connection, err: unknown): void {
    countInternalError('frame_handler');
    this.d.log.error({ err, conn: conn.id, user: conn.user || undefined }, 'frame handler failed; closing the connection 1011');
    try {
      conn.close(CloseCode.InternalError, 'internal error');
    } catch {
      conn.ws.terminate();
    }
  }

  /** A WebSocket protocol ping (ws answers it by itself): it counts like a frame. */
  onPing(conn: Connection): void {
    conn.lastSeen = Date.now();
    if (conn.state === 'active') this.charge(conn);
  }

  /** Frames that arrived while authentication ran, now that the welcome is out. */
  replayEarly(conn: Connection): void {
    const early = conn.early;
    conn.early = undefined;
    if (early) for (const [data, isBinary] of early) this.onMessage(conn, data, isBinary);
  }

  /**
   * Counts one client frame against the user's and the tenant's frame rates;
   * false (the connection closed 4008) when over. Everything an active client
   * sends is counted — bare pings, protocol pings, malformed and unknown
   * frames, bad acks — except valid acks.
   */
  private charge(conn: Connection): boolean {
    const limit = this.d.limiter.clientFrame(conn.tenant, conn.user);
    if (limit === undefined) return true;
    conn.close(CloseCode.RateLimited, `rate limit exceeded (${limit.replaceAll('_', ' ')})`);
    return false;
  }

  /** A client frame that failed validation: an error frame, or a close when it cannot be answered. */
  private refuseFrame(conn: Connection, err: unknown): void {
    if (!(err instanceof ProtocolViolation)) throw err;
    this.d.stats.bump(this.d.stats.protocolErrors, err.code);
    if (err.fatal || conn.state !== 'active') conn.close(conn.state === 'authenticating' ? CloseCode.Unauthorized : CloseCode.ProtocolError, err.message);
    // An answered bad frame costs like any other: a flood of them must not buy a flood of error frames.
    else if (this.charge(conn)) conn.sendText(errorFrame(err.code, err.message, err.id));
  }

  /**
   * A v2 client frame: binary only, decoded within the limits, then checked
   * by the v1 validator. A malformed frame closes with the error's close code
   * (1009 too_large, else 4000) and a reason naming the error code.
   */
  private decodeV2(conn: Connection, session: V2Session, data: RawData, isBinary: boolean): ClientFrame | undefined {
    if (!isBinary) {
      this.d.stats.bump(this.d.stats.protocolErrors, 'text_frame');
      conn.close(CloseCode.ProtocolError, `text frames are not allowed on ${BINARY_SUBPROTOCOL}`);
      return undefined;
    }
    let raw: unknown;
    try {
      const bytes = Array.isArray(data) ? Buffer.concat(data) : data instanceof ArrayBuffer ? new Uint8Array(data) : data;
      raw = this.d.v2.decode(bytes, session);
    } catch (err) {
      if (!(err instanceof BinaryProtocolError)) throw err;
      this.d.stats.bump(this.d.stats.protocolErrors, err.code);
      conn.close(err.closeCode, `${err.code}: ${err.message}`);
      return undefined;
    }
    try {
      return validateClientFrame(raw, this.d.config.maxJsonDepth);
    } catch (err) {
      this.refuseFrame(conn, err);
      return undefined;
    }
  }

  /** A valid client frame of either protocol. */
  private onFrame(conn: Connection, frame: ClientFrame): void {
    if (conn.state === 'authenticating') {
      if (frame.type !== 'auth') {
        conn.close(CloseCode.Unauthorized, 'the first frame must be {"type":"auth","token":...}');
        return;
      }
      this.d.authenticate(conn, frame.token);
      return;
    }
    if (conn.state !== 'active') return;
    if (frame.type === 'ack') {
      this.ack(conn, frame.seq);
      return;
    }
    if (!this.charge(conn)) return;
    // Asynchronous handlers (sync, presence, token refresh) are isolated like synchronous ones.
    this.d.frames.handle(conn, frame)?.catch((err: unknown) => this.failed(conn, err));
  }
}

function frameBytes(data: RawData): number {
  if (Array.isArray(data)) return data.reduce((n, b) => n + b.length, 0);
  return data instanceof ArrayBuffer ? data.byteLength : data.length;
}
