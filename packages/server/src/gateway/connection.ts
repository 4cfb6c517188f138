/**
 * One WebSocket connection and its small per-connection state. Kept lean:
 * the number of fields here decides how many connections fit in memory.
 *
 * States: authenticating → active → closing → closed. (Handshaking happens
 * before this object exists, in the HTTP upgrade.)
 */
import { WebSocket, type RawData } from 'ws';
import type { Socket } from 'node:net';
import type { Platform } from '@herald/protocol';
import { WheelEntry } from '../runtime/timingWheel.js';
import type { WireFrame } from '../protocol/wireFrame.js';
import type { EncodedFrame } from '../protocol/encodedFrame.js';
import { reuseFragmentList, socketOf } from '../protocol/wsInternals.js';
import { holdWrites } from '../protocol/writeCoalescing.js';
import type { ReliableStream } from '../delivery/reliableStream.js';
import type { DeliverySession, SessionState } from '../delivery/session.js';
import { v2FromText, type V2Session } from '../protocol/v2Frames.js';

export type ConnState = SessionState;

/** What a connection asks of its gateway: one shared object, not closures per connection. */
export interface ConnectionHooks {
  /** The connection's wheel timer fired (auth deadline, heartbeat check). */
  onTimer(c: Connection): void;
  /** The outbound buffer passed its limit. */
  onOverflow(c: Connection): void;
  /** A WebSocket message arrived. */
  onMessage(c: Connection, data: RawData, isBinary: boolean): void;
  /** A WebSocket protocol ping arrived (ws has answered it already). */
  onPing(c: Connection): void;
  /** The WebSocket closed. */
  onClose(c: Connection, code: number, reason: Buffer): void;
  /** ws reported an error (it closes the socket itself). */
  onError(c: Connection, err: Error): void;
  /** The connection is being replaced: it must leave every index now, before its close completes. */
  onEvict(c: Connection): void;
  /** Outbound bytes a connection may have buffered before it is closed as a slow consumer (shared, not a field per connection). */
  readonly maxBuffered: number;
}

/**
 * The gateway's WebSocket class (ws's `WebSocket` server option): a socket that belongs to a
 * Connection hands it its events directly. Five listeners on each socket (message, ping, pong,
 * close, error) grew ws's per-socket listener table and needed a property pointing back at the
 * Connection (issue 20: ~100 bytes per connection); this costs one field. Listeners added with
 * on()/once() (shutdown waits for 'close') still run, after the Connection's handler, as before.
 */
export class GatewayWebSocket extends WebSocket {
  conn: Connection | undefined = undefined;
  /** ws's Receiver collects each message of this socket here (reuseFragmentList); made at the first message. */
  private fragmentList: Buffer[] | undefined = undefined;

  /**
   * ws (8.x, autoPong) gives every socket a closure that counts its automatic pong as written
   * (`_autoPongComplete`, ~100 bytes with its scope, issue 20); ws's constructor assigns it, so this
   * accessor takes the assignment and drops it, and hands ws a fresh one for each pong instead: a
   * client's ping is rare next to the socket's life. ws still closes a peer with more than
   * maxPendingAutoPongs unwritten pongs (test/unit/wsInternals.test.ts pins this).
   */
  get _autoPongComplete(): () => void {
    return () => {
      (this as unknown as { _pendingAutoPongs: number })._pendingAutoPongs--;
    };
  }

  set _autoPongComplete(_fn: () => void) {}

  // ws emits at most two arguments per event.
  override emit(event: string | symbol, a?: unknown, b?: unknown): boolean {
    const c = this.conn;
    if (c === undefined) return super.emit(event, a, b);
    switch (event) {
      case 'message':
        c.hooks.onMessage(c, a as RawData, b as boolean);
        // The message is handled: its frames must not outlive it (wsInternals.ts).
        reuseFragmentList(this, (this.fragmentList ??= []));
        break;
      case 'ping':
        c.hooks.onPing(c);
        break;
      case 'pong':
        c.lastSeen = Date.now();
        break;
      case 'close':
        c.hooks.onClose(c, a as number, b as Buffer);
        break;
      case 'error':
        c.hooks.onError(c, a as Error);
        // Handled: an 'error' without listeners must not throw (ws closes the socket itself).
        return this.listenerCount('error') > 0 ? super.emit(event, a) : true;
    }
    return super.emit(event, a, b);
  }
}

/**
 * A connection's times are kept as ms since BASE: small integers V8 stores in the object itself,
 * where an epoch time (above 2^31) is a separate 16-byte heap number per field (issue 20: 48 bytes
 * per connection). After ~24 days of uptime they become heap numbers again: the same values at
 * the former size. Exact: integral ms, and any two times this close subtract exactly.
 */
const BASE = Date.now();

/**
 * The connection is its own wheel entry (auth deadline, then heartbeat checks): `fire` goes to
 * the shared hooks. A separate entry object cost 72 bytes per connection (issue 20).
 */
export class Connection extends WheelEntry implements DeliverySession {
  state: ConnState = 'authenticating';
  user = '';
  tenant = '';
  /** Rooms joined, created on first join. */
  rooms: Set<string> | undefined;
  /** JWT `rooms` allow-list; undefined allows any room. */
  allowRooms: string[] | undefined;
  /** lastSeen, connectedAt, expiresAt − BASE. */
  private seen: number;
  private readonly since: number;
  private expires: number | undefined = undefined;
  reliable: ReliableStream | undefined;
  /** Protocol v2 (`herald.v2.bin`): the negotiated codec, shared with other connections; undefined speaks v1. */
  v2: V2Session | undefined;
  /** Frames received while authentication runs; replayed after the welcome. */
  early: [RawData, boolean][] | undefined;
  private readonly socket: Socket;

  constructor(
    readonly id: string,
    readonly ws: GatewayWebSocket,
    public device: string,
    readonly platform: Platform,
    /** `last_seq` from the URL, when given. */
    readonly requestedSeq: number | undefined,
    readonly hooks: ConnectionHooks,
  ) {
    super();
    this.since = this.seen = Date.now() - BASE;
    // ws keeps its socket private; writing pre-built frames to it directly is
    // what lets one frame buffer serve every recipient (see wireFrame.ts).
    this.socket = socketOf(ws);
    (ws as GatewayWebSocket).conn = this;
  }

  /** Last inbound activity, ms since the epoch (frames and pongs). */
  get lastSeen(): number {
    return this.seen + BASE;
  }

  set lastSeen(t: number) {
    this.seen = t - BASE;
  }

  get connectedAt(): number {
    return this.since + BASE;
  }

  /** Token expiry, ms since the epoch. */
  get expiresAt(): number | undefined {
    return this.expires === undefined ? undefined : this.expires + BASE;
  }

  set expiresAt(t: number | undefined) {
    this.expires = t === undefined ? undefined : t - BASE;
  }

  /** Auth deadline while authenticating, then heartbeat checks: the connection itself. */
  get timer(): WheelEntry {
    return this;
  }

  override fire(): void {
    this.hooks.onTimer(this);
  }

  /** Bytes written to the socket and not yet sent. */
  get bufferedBytes(): number {
    return this.socket.writableLength;
  }

  /** Writes a frame in this connection's encoding (v1 text, or v2 with its codec). */
  send(frame: EncodedFrame): boolean {
    return this.sendWire(frame.frameFor(this.v2));
  }

  /** Writes a pre-built frame. Returns false when the connection cannot take it. */
  sendWire(frame: WireFrame): boolean {
    if (this.ws.readyState !== 1) return false;
    if (this.socket.writableLength > this.hooks.maxBuffered) {
      this.hooks.onOverflow(this);
      return false;
    }
    holdWrites(this.socket);
    this.socket.write(frame);
    return true;
  }

  /**
   * Sends a v1 text frame (welcome, replies, errors: not the fan-out path).
   * A v2 connection gets it converted to a binary v2 frame, per send.
   */
  sendText(text: string): void {
    if (this.ws.readyState !== 1) return;
    if (this.socket.writableLength > this.hooks.maxBuffered) {
      this.hooks.onOverflow(this);
      return;
    }
    holdWrites(this.socket);
    if (this.v2 === undefined) this.ws.send(text);
    else this.ws.send(v2FromText(text, this.v2), { binary: true });
  }

  close(code: number, reason: string): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.state = 'closing';
    this.closedWith = [code, reason];
    // A connection paused during authentication must read again to see the peer's close reply.
    if (this.ws.isPaused) this.ws.resume();
    // Reasons are limited to 123 bytes by the WebSocket protocol.
    this.ws.close(code, Buffer.from(reason, 'utf8').subarray(0, 123).toString('utf8'));
  }

  evict(code: number, reason: string): void {
    this.close(code, reason);
    this.hooks.onEvict(this);
  }

  /** Close code and reason chosen by the server (one field: most connections never get one). */
  private closedWith: [number, string] | undefined = undefined;

  /** Close code chosen by the server, for logs and metrics. */
  get closeCode(): number | undefined {
    return this.closedWith?.[0];
  }

  get closeReason(): string | undefined {
    return this.closedWith?.[1];
  }
}
