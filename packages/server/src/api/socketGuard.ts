/**
 * Socket-level guards of the HTTP server, before any request is parsed:
 *
 * - a per-address cap on open HTTP sockets that are not (yet) WebSockets, so
 *   one peer cannot hold the process's file descriptors with idle or slow
 *   sockets. Counted from `connection` until the socket closes or is upgraded
 *   (a WebSocket then falls under the gateway's own limits). The address is
 *   the TCP peer: no header has been read yet. Trusted proxies are exempt, as
 *   every client behind them shares their address.
 * - the `clientError` answer: 408 when the headers or request did not arrive in
 *   time, 400 otherwise, then the socket is destroyed. The server allows
 *   half-open sockets, so `end()` alone would leave a client that never closes
 *   its side holding the socket forever.
 */
import type { Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import type { Stats } from '../observability/stats.js';

/** The herald_limit_rejections_total{limit} label of a refused socket. */
export const HTTP_SOCKETS_LIMIT = 'http_sockets_per_ip';

/** How long a refused or erroring socket may take to flush its short answer before it is destroyed. */
const FLUSH_GRACE_MS = 1000;

const counted = Symbol('herald.httpSocketCounted');

function peerOf(socket: Socket | Duplex): string {
  const ip = (socket as Socket).remoteAddress ?? '';
  return ip.startsWith('::ffff:') ? ip.slice(7) : ip;
}

/** Writes `answer` (when it can), then destroys the socket: at once when flushed, else after a short grace. */
export function answerAndDestroy(socket: Duplex, answer: string): void {
  if (socket.destroyed) return;
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const timer = setTimeout(() => socket.destroy(), FLUSH_GRACE_MS);
  timer.unref();
  socket.end(answer, () => {
    clearTimeout(timer);
    socket.destroy();
  });
}

export class SocketGuard {
  private readonly open = new Map<string, number>();
  private readonly exempt: ReadonlySet<string>;
  /**
   * One `close` listener for every counted socket, removed when the socket is upgraded: a
   * per-socket `once` closure (closure, scope, once wrapper and its state, listener array) stayed
   * on every WebSocket's socket for its whole life, ~250 bytes per connection (issue 20).
   */
  private readonly onSocketClose: (this: Socket) => void;

  constructor(
    private readonly maxPerIp: number,
    trustedProxies: readonly string[],
    private readonly stats: Stats,
  ) {
    this.exempt = new Set(trustedProxies);
    const release = (socket: Socket): boolean => this.release(socket);
    this.onSocketClose = function (this: Socket) {
      release(this);
    };
  }

  /** Open non-WebSocket sockets of `ip` (for tests and the dashboard). */
  count(ip: string): number {
    return this.open.get(ip) ?? 0;
  }

  attach(server: Server): void {
    server.on('connection', (socket: Socket) => this.onConnection(socket));
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
      const timeout = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
      answerAndDestroy(socket, timeout ? 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n' : 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    });
  }

  /** The socket became a WebSocket (or is being refused as one): it no longer counts as an HTTP socket. */
  upgraded(socket: Duplex): void {
    if (this.release(socket)) socket.removeListener('close', this.onSocketClose);
  }

  private onConnection(socket: Socket): void {
    if (this.maxPerIp <= 0) return;
    const ip = peerOf(socket);
    if (this.exempt.has(ip)) return;
    const n = this.open.get(ip) ?? 0;
    if (n >= this.maxPerIp) {
      this.stats.limitRejected(HTTP_SOCKETS_LIMIT);
      const body = JSON.stringify({ error: { code: 'rate_limited', message: `too many open HTTP connections from this address (maxHttpSocketsPerIp ${this.maxPerIp})` } });
      answerAndDestroy(socket, `HTTP/1.1 429 Too Many Requests\r\nConnection: close\r\nRetry-After: 1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      return;
    }
    this.open.set(ip, n + 1);
    (socket as Socket & { [counted]?: string })[counted] = ip;
    socket.on('close', this.onSocketClose);
  }

  /** Stops counting `socket`; true when it was counted. */
  private release(socket: Duplex): boolean {
    const s = socket as Duplex & { [counted]?: string };
    const ip = s[counted];
    if (ip === undefined) return false;
    s[counted] = undefined;
    const n = (this.open.get(ip) ?? 1) - 1;
    if (n <= 0) this.open.delete(ip);
    else this.open.set(ip, n);
    return true;
  }
}
