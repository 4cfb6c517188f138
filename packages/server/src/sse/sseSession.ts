/**
 * One Server-Sent Events stream (DESIGN.md §10): a DeliverySession whose
 * writes are events on a long-lived HTTP response. The DeliveryHub, the
 * registry, the reliable stream and the resume rule serve it exactly as they
 * serve a WebSocket `Connection`.
 *
 * The response starts (200, `text/event-stream`) at the first event, the
 * welcome: a session refused before that (limits, engine down) still gets a
 * plain HTTP error. After it, a server close is an `event: close` with the
 * code, then the end of the response. Every event is written at once (no
 * buffering here, `X-Accel-Buffering: no` for proxies that would).
 */
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { CloseCode, type Platform } from '@herald/protocol';
import type { ReliableStream } from '../delivery/reliableStream.js';
import type { SessionState } from '../delivery/session.js';
import { ApiError, type ErrorCodeName } from '../errors.js';
import { sendError } from '../api/http.js';
import type { GatewaySession } from '../gateway/gatewaySession.js';
import type { EncodedFrame } from '../protocol/encodedFrame.js';
import { SSE_HEARTBEAT, sseCloseEvent, sseEventOfText } from '../protocol/sseFrames.js';
import { holdWrites } from '../protocol/writeCoalescing.js';
import { TimerEntry } from '../runtime/timingWheel.js';

/** What a stream asks of its endpoint: one shared object, not closures per stream. */
export interface SseHooks {
  onTimer(s: SseSession): void;
  onOverflow(s: SseSession): void;
  /** The response ended (server close, or the client went away). */
  onClose(s: SseSession): void;
  /** The session is being replaced: it must leave every index now. */
  onEvict(s: SseSession): void;
}

/** How long an ended stream may take to flush its last event before the socket is dropped, ms. */
const CLOSE_GRACE_MS = 2000;

/** A close before the stream started is answered as HTTP: the status and error code per close code. */
const HTTP_OF_CLOSE: Record<number, ErrorCodeName> = {
  [CloseCode.Unauthorized]: 'unauthorized',
  [CloseCode.Forbidden]: 'forbidden',
  [CloseCode.ConnectionLimit]: 'rate_limited',
  [CloseCode.TryAgainLater]: 'engine_unavailable',
  [CloseCode.GoingAway]: 'draining',
};

export const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  connection: 'keep-alive',
  // nginx and similar proxies buffer responses unless told not to.
  'x-accel-buffering': 'no',
} as const;

export class SseSession implements GatewaySession {
  state: SessionState = 'authenticating';
  user = '';
  tenant = '';
  rooms: Set<string> | undefined;
  allowRooms: string[] | undefined;
  expiresAt: number | undefined;
  lastSeen: number;
  readonly connectedAt: number;
  reliable: ReliableStream | undefined;
  closeCode: number | undefined;
  closeReason: string | undefined;
  readonly timer: TimerEntry;
  private readonly socket: Socket | null;

  constructor(
    readonly id: string,
    private readonly res: ServerResponse,
    public device: string,
    readonly platform: Platform,
    readonly requestedSeq: number | undefined,
    readonly remoteAddress: string,
    private readonly hooks: SseHooks,
    private readonly maxBuffered: number,
    /** Extra response headers (CORS), written with the stream's. */
    private readonly headers: Record<string, string>,
  ) {
    this.connectedAt = this.lastSeen = Date.now();
    this.timer = new TimerEntry(() => hooks.onTimer(this));
    this.socket = res.socket;
    res.once('close', () => hooks.onClose(this));
  }

  send(frame: EncodedFrame): boolean {
    return this.write(frame.sse());
  }

  sendText(text: string): void {
    this.write(sseEventOfText(text));
  }

  /** A comment line on the heartbeat tick. */
  heartbeat(): void {
    this.write(SSE_HEARTBEAT);
  }

  /** Whether the response is still open (for shutdown waits). */
  get ended(): boolean {
    return this.res.writableEnded || this.res.destroyed;
  }

  private write(chunk: string): boolean {
    if (this.state === 'closing' || this.state === 'closed' || this.ended) return false;
    if (!this.res.headersSent) this.res.writeHead(200, { ...SSE_HEADERS, ...this.headers });
    // The same rule as a WebSocket's outbound buffer: a reader that stopped reading is cut (4009), not grown.
    if ((this.socket?.writableLength ?? 0) + this.res.writableLength > this.maxBuffered) {
      this.hooks.onOverflow(this);
      return false;
    }
    // Node's http corks for one tick itself; holding to the end of the loop turn batches across publishes too.
    if (this.socket !== null) holdWrites(this.socket);
    this.res.write(chunk);
    return true;
  }

  close(code: number, reason: string): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.state = 'closing';
    this.closeCode = code;
    this.closeReason = reason;
    if (this.ended) return;
    if (!this.res.headersSent) {
      sendError(this.res, new ApiError(HTTP_OF_CLOSE[code] ?? 'internal', reason));
      return;
    }
    // A reader that stopped reading (or went silent) will not take a last event: drop it at once.
    if (code === CloseCode.SlowConsumer || code === CloseCode.HeartbeatTimeout) {
      this.res.destroy();
      return;
    }
    this.res.end(sseCloseEvent(code, reason));
    const socket = this.socket;
    if (socket) setTimeout(() => this.res.writableFinished || socket.destroy(), CLOSE_GRACE_MS).unref();
  }

  /** Resolves once the response has closed (for shutdown waits). */
  whenClosed(): Promise<void> {
    if (this.state === 'closed' || this.res.destroyed) return Promise.resolve();
    return new Promise((resolve) => this.res.once('close', () => resolve()));
  }

  /** Drops the stream at once (a shutdown straggler). */
  terminate(): void {
    this.res.destroy();
  }

  evict(code: number, reason: string): void {
    this.close(code, reason);
    this.hooks.onEvict(this);
  }
}
