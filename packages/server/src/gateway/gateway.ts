/**
 * The WebSocket side of a node, composed from its lifecycle parts:
 * admission (upgrade, origin, limits), sessions (auth, activation, heartbeat,
 * close), ingress (decode, rate limit, dispatch), rooms and the frame
 * handler. Delivery to sessions goes through the DeliveryHub, below this layer.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type ServerOptions } from 'ws';
import { CloseCode } from '@herald/protocol';
import type { HeraldConfig } from '../config/schema.js';
import type { Engine } from '../engine/types.js';
import type { JwtVerifier } from '../auth/jwtVerifier.js';
import type { LifecycleEvents } from '../events/lifecycle.js';
import type { Logger } from '../observability/logger.js';
import type { Stats } from '../observability/stats.js';
import type { Metrics } from '../observability/metrics.js';
import type { Limiter } from '../limits/limiter.js';
import { selectSubprotocol, V2Codecs } from '../protocol/v2Frames.js';
import { DeliveryHub } from '../delivery/hub.js';
import { Registry } from '../delivery/registry.js';
import { TimingWheel } from '../runtime/timingWheel.js';
import { SseEndpoint } from '../sse/sseEndpoint.js';
import { Activation, IdentityRefused } from './activation.js';
import { clientAddress } from '../limits/clientAddress.js';
import { Admission } from './admission.js';
import { Connection, GatewayWebSocket, type ConnectionHooks } from './connection.js';
import type { GatewaySession } from './gatewaySession.js';
import { FrameHandler } from './frameHandler.js';
import { Ingress } from './ingress.js';
import { Rooms } from './rooms.js';
import { roomParts, type RoomParts } from '../rooms/parts.js';
import { Sessions } from './sessions.js';
import type { Hooks } from '../hooks/hooks.js';
import { FrameOrder } from '../hooks/frameOrder.js';
import { RpcFrames } from '../hooks/rpcFrames.js';

export interface GatewayDeps {
  config: HeraldConfig;
  nodeId: string;
  engine: Engine;
  verifier: JwtVerifier;
  events: LifecycleEvents;
  log: Logger;
  stats: Stats;
  metrics: Metrics;
  limiter: Limiter;
  /** The hooks in the path that are configured (hooks/hooks.ts). */
  hooks?: Hooks;
  /** Load shedding: seconds to tell a refused connection to wait, 0 when connections are admitted. */
  refuseConnections?: () => number;
}

/** How long a connection the server closed gets to complete the close handshake before the socket is dropped, ms. */
const CLOSE_GRACE_MS = 2000;

export class Gateway {
  readonly registry: Registry<GatewaySession>;
  readonly hub: DeliveryHub;
  /** Room history, recovery and awareness, shared with the publish pipeline and the HTTP API. */
  readonly roomParts: RoomParts;
  private readonly wss: WebSocketServer;
  private readonly admission: Admission;
  private readonly sessions: Sessions;
  /** The Server-Sent Events transport: GET /sse, POST /sse/ack. */
  readonly sse: SseEndpoint;

  constructor(d: GatewayDeps) {
    const c = d.config;
    this.registry = new Registry<GatewaySession>(d.nodeId);
    // Tick fine enough for the shortest configured deadline, never finer than 10 ms.
    const wheel = new TimingWheel(Math.max(10, Math.min(100, Math.floor(Math.min(c.ackTimeoutMs, c.heartbeatMs, c.authTimeoutMs) / 4))), 512, (err) =>
      d.log.error({ err }, 'timer callback failed'),
    );
    this.hub = new DeliveryHub({
      registry: this.registry,
      bus: d.engine,
      inbox: d.engine,
      wheel,
      settings: {
        ackTimeoutMs: c.ackTimeoutMs,
        ackMaxAttempts: c.ackMaxAttempts,
        maxInflight: c.maxInflight,
        replayBatch: c.replayBatch,
        retention: { maxMessages: c.inboxMaxMessages, maxAgeMs: c.inboxMaxAgeSec * 1000 },
      },
      events: d.events,
      stats: d.stats,
      metrics: d.metrics,
      log: d.log,
    });
    // perMessageDeflate stays off for everyone: v2 compresses per frame, once per message, not per socket.
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: c.maxFrameBytes,
      clientTracking: false,
      perMessageDeflate: false,
      handleProtocols: selectSubprotocol,
      // Every server-side close (auth timeout, limits, slow consumers…) waits this long for the
      // peer's close reply, then drops the socket: a peer that ignores it, or stopped reading,
      // must not hold a socket (and a pending-auth slot) for ws's default 30 s.
      closeTimeout: CLOSE_GRACE_MS,
      // Sockets hand their events to their Connection without per-socket listeners (connection.ts).
      WebSocket: GatewayWebSocket,
    } as ServerOptions & { closeTimeout: number });
    const v2 = new V2Codecs({
      codecs: c.binaryCompression,
      threshold: c.binaryCompressionThresholdBytes,
      maxPayloadBytes: c.maxFrameBytes,
      maxDecompressedBytes: c.binaryMaxDecompressedBytes ?? c.maxFrameBytes,
    });

    const frames = new FrameHandler({ config: c, verifier: d.verifier, inbox: d.engine, settings: this.hub.settings, stats: d.stats });
    const rooms = new Rooms({
      config: c,
      nodeId: d.nodeId,
      hub: this.hub,
      bus: d.engine,
      presence: d.engine,
      events: d.events,
      limiter: d.limiter,
      stats: d.stats,
      log: d.log,
      ...(this.roomParts = roomParts(c, this.hub, d.engine, d.nodeId, d.log)),
      refuse: (conn, code, message, id) => frames.refuse(conn, code, message, id),
      joinHook: d.hooks?.join,
      publishHook: d.hooks?.publish,
    });
    frames.rooms = rooms;
    const core = new Activation({ config: c, nodeId: d.nodeId, engine: d.engine, verifier: d.verifier, hub: this.hub, rooms, events: d.events, limiter: d.limiter, stats: d.stats, log: d.log });
    const sessions = new Sessions({ config: c, hub: this.hub, stats: d.stats, log: d.log, core, limiter: d.limiter, connectHook: d.hooks?.connect });
    const ingress = new Ingress({
      config: c,
      v2,
      frames,
      limiter: d.limiter,
      stats: d.stats,
      metrics: d.metrics,
      log: d.log,
      authenticate: (conn, token) => sessions.authenticate(conn, token),
    });
    const hooks: ConnectionHooks = {
      onTimer: (conn) => sessions.onTimer(conn),
      onOverflow: (conn) => conn.close(CloseCode.SlowConsumer, 'outbound buffer over its limit'),
      // Bound rather than wrapped: one function frame less per client frame (one per reliable message's ack).
      onMessage: ingress.onMessage.bind(ingress),
      onPing: (conn) => ingress.onPing(conn),
      onClose: (conn, code, reason) => sessions.onClose(conn, code, reason.toString()),
      // ws reports protocol errors (e.g. 1009 too big) here and then closes by itself.
      onError: (conn, err) => d.log.debug({ conn: conn.id, err: err.message }, 'websocket error'),
      onEvict: (conn) => sessions.detach(conn),
      maxBuffered: c.outboundBufferBytes,
    };
    sessions.hooks = hooks;
    sessions.replayEarly = (conn) => ingress.replayEarly(conn);
    sessions.failed = (conn, err) => ingress.failed(conn, err);
    // A frame of an SSE session fails like a WebSocket's: that session closes 1011, nothing else.
    frames.order = new FrameOrder<GatewaySession>(c.hookMaxPendingPerConnection, (conn, err) =>
      conn instanceof Connection ? ingress.failed(conn, err) : conn.close(CloseCode.InternalError, 'internal error'),
    );
    frames.rpc = new RpcFrames<GatewaySession>(d.hooks?.rpc, c.hookMaxPendingPerConnection, (conn, code, message, id) => frames.refuse(conn, code, message, id));
    this.sessions = sessions;
    this.admission = new Admission({
      config: c,
      wss: this.wss,
      v2,
      limiter: d.limiter,
      stats: d.stats,
      liveCount: () => this.liveCount,
      ...(d.refuseConnections ? { overloaded: d.refuseConnections } : {}),
      activeCount: () => this.registry.size,
      open: (ws, params, session, request) => sessions.open(ws, params, session, request),
    });
    const admission = this.admission;
    const connectHook = d.hooks?.connect;
    const trusted = new Set(c.trustedProxies);
    this.sse = new SseEndpoint({
      config: c,
      core,
      rooms,
      frames,
      registry: this.registry,
      limiter: d.limiter,
      refusal: (ip) => admission.refusal(ip),
      accepting: () => admission.isAccepting,
      // A stream without a token is authenticated by the connect hook, exactly as a WebSocket is.
      ...(connectHook
        ? {
            authenticateWithoutToken: async (req: IncomingMessage, query: URLSearchParams) => {
              const out = await connectHook.authenticate({ headers: req.headers, query, remote: clientAddress(req, trusted) });
              if (out.ok) return out.identity;
              d.stats.bump(d.stats.authFailures, out.why === 'rejected' ? 'hook_rejected' : 'hook_unavailable');
              throw new IdentityRefused(out.code, out.reason);
            },
          }
        : {}),
    });
    wheel.start();
  }

  /** Handles `upgrade` on the HTTP server for GET /ws. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, query: URLSearchParams): void {
    this.admission.handleUpgrade(req, socket, head, query);
  }

  /** Stops accepting new WebSocket upgrades. */
  stopAccepting(): void {
    this.admission.stop();
  }

  /** Closes every connection in waves (see Sessions.closeAll). */
  async closeAll(code: number, reason: string, timeoutMs: number, windowMs = 0): Promise<void> {
    await Promise.all([this.sessions.closeAll(code, reason, timeoutMs, windowMs), this.sse.closeAll(code, reason, timeoutMs, windowMs)]);
  }

  close(): void {
    this.hub.wheel.stop();
    this.wss.close();
  }

  /** Closes up to `n` active connections with 1001 `rebalance` (gateway/rebalancer.ts); returns how many. */
  closeForRebalance(n: number): number {
    let k = 0;
    for (const conn of this.registry.all()) {
      if (k >= n) break;
      if (conn.state !== 'active') continue;
      conn.close(CloseCode.GoingAway, 'rebalance');
      k++;
    }
    return k;
  }

  /** Bytes buffered for every socket of the node together (load shedding). */
  bufferedBytes(): number {
    let n = 0;
    for (const conn of this.sessions.live) n += conn.bufferedBytes;
    return n;
  }

  /** Sockets and SSE streams not yet closed, authenticated or not. */
  get liveCount(): number {
    return this.sessions.live.size + this.sse.live.size;
  }
}
