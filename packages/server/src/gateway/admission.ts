/**
 * Admission: what happens to a WebSocket upgrade before there is a session —
 * draining, the origin allow-list, the handshake query, node-wide limits
 * (connections, pending authentications, connect rate per address) and the
 * subprotocol. A refused upgrade gets an HTTP status or a close code with a
 * reason; an admitted one is handed to the session layer.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { WebSocket, WebSocketServer } from 'ws';
import { BINARY_SUBPROTOCOL, CloseCode, COMPRESSION_PARAM } from '@herald/protocol';
import { rejectUpgrade } from '../api/http.js';
import type { HeraldConfig } from '../config/schema.js';
import { clientAddress } from '../limits/clientAddress.js';
import type { Limiter } from '../limits/limiter.js';
import { originAllowed } from '../limits/originCheck.js';
import type { Stats } from '../observability/stats.js';
import type { V2Codecs, V2Session } from '../protocol/v2Frames.js';
import { holdUntilTurnEnd } from '../protocol/writeCoalescing.js';
import type { ConnectRequest } from '../hooks/connectHook.js';
import { HandshakeError, parseHandshake, type HandshakeParams } from './handshake.js';

export interface AdmissionDeps {
  config: HeraldConfig;
  wss: WebSocketServer;
  v2: V2Codecs;
  limiter: Limiter;
  stats: Stats;
  /** Sockets not yet closed, authenticated or not. */
  liveCount(): number;
  /** Load shedding: seconds to tell a refused connection to wait, 0 when admitted. */
  overloaded?(): number;
  /** Sessions active in the registry. */
  activeCount(): number;
  /**
   * An admitted socket: the session layer takes it from here. `request` is what the connect hook
   * needs (headers, query, address), given when there is no token: handed over, not kept on the connection.
   */
  open(ws: WebSocket, params: HandshakeParams, v2: V2Session | undefined, request: ConnectRequest | undefined): void;
}

export class Admission {
  private accepting = true;
  private readonly trustedProxies: ReadonlySet<string>;

  constructor(private readonly d: AdmissionDeps) {
    this.trustedProxies = new Set(d.config.trustedProxies);
  }

  /** Stops accepting new upgrades (drain): 503 from now on. */
  stop(): void {
    this.accepting = false;
  }

  get isAccepting(): boolean {
    return this.accepting;
  }

  /** Handles `upgrade` on the HTTP server for GET /ws. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, query: URLSearchParams): void {
    const d = this.d;
    if (!this.accepting) {
      rejectUpgrade(socket, 503, 'Service Unavailable', 'draining', 'node is shutting down');
      return;
    }
    // Cross-site WebSocket hijacking: a foreign page's browser sends its own Origin.
    const origin = req.headers.origin;
    if (!originAllowed(origin, d.config.allowedOrigins)) {
      d.limiter.reject('origin');
      rejectUpgrade(socket, 403, 'Forbidden', 'forbidden', `origin ${origin} is not allowed`);
      return;
    }
    const ip = clientAddress(req, this.trustedProxies);
    forgetPeer(req.socket);
    let params: HandshakeParams | undefined;
    let refusal: string | undefined;
    try {
      params = parseHandshake(query);
    } catch (err) {
      if (!(err instanceof HandshakeError)) throw err;
      refusal = err.message;
    }
    // The 101 response and what follows it in this turn (the welcome, on an engine that answers at
    // once; a refusal's close frame) leave in one write (issue 20: a system call per connect fewer).
    holdUntilTurnEnd(socket);
    d.wss.handleUpgrade(req, socket, head, (ws) => {
      if (refusal !== undefined || !params) {
        d.stats.bump(d.stats.authFailures, 'bad_handshake');
        ws.close(CloseCode.ProtocolError, refusal);
        return;
      }
      // Shedding load (limits/loadShedder.ts): the upgrade completes so the client gets a close
      // code it understands (1013 try again later) with the hint in the reason.
      const retrySec = d.overloaded?.() ?? 0;
      if (retrySec > 0) {
        d.limiter.reject('shed_connections');
        ws.close(CloseCode.TryAgainLater, `overloaded; retry in ${retrySec}s`);
        return;
      }
      const limit = this.refusal(ip);
      if (limit !== undefined) {
        ws.close(CloseCode.ConnectionLimit, limit);
        return;
      }
      const v2 = ws.protocol === BINARY_SUBPROTOCOL ? d.v2.negotiate(query.get(COMPRESSION_PARAM)) : undefined;
      // What the connect hook reads, for a connection without a token only (the hook's input).
      d.open(ws, params, v2, params.token === undefined ? { headers: req.headers, query, remote: ip } : undefined);
    });
  }

  /** Node-wide admission limits for a new socket or SSE stream: a reason when refused (close 4005). */
  refusal(ip: string): string | undefined {
    const c = this.d.config;
    const l = this.d.limiter;
    const live = this.d.liveCount();
    if (c.maxConnections > 0 && live >= c.maxConnections) {
      l.reject('connections_per_node');
      return `connection limit of this node reached (${c.maxConnections})`;
    }
    // Connections not yet active: those still authenticating (and a few closing).
    if (c.maxPendingAuth > 0 && live - this.d.activeCount() >= c.maxPendingAuth) {
      l.reject('pending_auth');
      return 'too many connections authenticating; retry later';
    }
    if (l.connectFromIp(ip) > 0) return 'connection rate limit of this address reached';
    return undefined;
  }
}

/**
 * net.Socket caches the peer's `{ address, family, port }` at its first `remoteAddress` read and
 * keeps it for the socket's life: 56 bytes per connection (issue 20). The address was read once,
 * here, and the session keeps it; dropped, a later read asks the socket's handle again (Node's
 * `_getpeername`), as the first one did.
 */
function forgetPeer(socket: Socket): void {
  (socket as Socket & { _peername?: object })._peername = undefined;
}
