/**
 * The WebSocket side of a node: upgrade, authentication, the connection
 * lifecycle, heartbeats, client frames and local fan-out.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket, type RawData, type ServerOptions } from 'ws';
import { BINARY_SUBPROTOCOL, BinaryProtocolError, CloseCode, COMPRESSION_PARAM, DEFAULT_DEVICE, ErrorCode, type ClientFrame } from '@herald/protocol';
import type { HeraldConfig } from '../config/schema.js';
import type { Engine, InboxMessage, Route } from '../engine/types.js';
import { AuthError, type Identity, type JwtVerifier } from '../auth/jwtVerifier.js';
import type { Logger } from '../observability/logger.js';
import type { Stats } from '../observability/stats.js';
import type { Metrics } from '../observability/metrics.js';
import { parseClientFrame, ProtocolViolation, validateClientFrame } from '../protocol/clientFrames.js';
import { errorFrame, reliableFrame, welcomeFrame } from '../protocol/serverFrames.js';
import { textWireFrame, type WireFrame } from '../protocol/wireFrame.js';
import { selectSubprotocol, V2Codecs, V2Frames, type V2Session } from '../protocol/v2Frames.js';
import { ReliableStream, type ReliableHost, type ReliableSettings } from '../delivery/reliableStream.js';
import { resolveStartPoint } from '../delivery/startPoint.js';
import { Connection, type ConnectionHooks } from './connection.js';
import { parseHandshake, HandshakeError, type HandshakeParams } from './handshake.js';
import { Registry } from './registry.js';
import { TimingWheel } from './timingWheel.js';
import { FrameHandler } from './frameHandler.js';
import type { Limiter } from '../limits/limiter.js';
import { clientAddress } from '../limits/clientAddress.js';
import { originAllowed } from '../limits/originCheck.js';
import { rejectUpgrade } from '../api/http.js';
import { countInternalError } from '../observability/lastResort.js';

export interface GatewayDeps {
  config: HeraldConfig;
  nodeId: string;
  engine: Engine;
  verifier: JwtVerifier;
  log: Logger;
  stats: Stats;
  metrics: Metrics;
  limiter: Limiter;
}

/** Frames a client may pipeline behind its token before the welcome. */
const MAX_EARLY_FRAMES = 16;

/** How long a connection the server closed gets to complete the close handshake before the socket is dropped, ms. */
const CLOSE_GRACE_MS = 2000;

/** Longest wait for the engine to confirm a new subscription during a handshake, ms. */
const SUBSCRIBE_WAIT_MS = 3000;

/** Standard close code for "try again later" (engine unavailable during the handshake). */
const TRY_AGAIN_LATER = 1013;

export class Gateway implements ReliableHost {
  readonly registry: Registry;
  readonly wheel: TimingWheel;
  readonly settings: ReliableSettings;
  readonly engine: Engine;
  readonly log: Logger;
  private readonly wss: WebSocketServer;
  private readonly frames: FrameHandler;
  private readonly frameCache = new WeakMap<InboxMessage, WireFrame>();
  /** Protocol v2: codecs, limits, the per-message frame cache and one ReliableHost per codec. */
  private readonly v2: V2Codecs;
  private readonly v2Cache = new WeakMap<InboxMessage, V2Frames>();
  private readonly v2Hosts = new Map<V2Session, ReliableHost>();
  private connSeq = 0;
  /** Connections not yet closed, authenticated or not (for shutdown). */
  private readonly live = new Set<Connection>();
  private accepting = true;
  private readonly trustedProxies: ReadonlySet<string>;
  private readonly connHooks: ConnectionHooks = {
    onTimer: (c) => this.onTimer(c),
    onOverflow: (c) => c.close(CloseCode.SlowConsumer, 'outbound buffer over its limit'),
    onMessage: (c, data, isBinary) => this.onMessage(c, data, isBinary),
    onPing: (c) => this.onPing(c),
    onClose: (c, code, reason) => this.onClose(c, code, reason.toString()),
    // ws reports protocol errors (e.g. 1009 too big) here and then closes by itself.
    onError: (c, err) => this.log.debug({ conn: c.id, err: err.message }, 'websocket error'),
  };

  constructor(private readonly d: GatewayDeps) {
    const c = d.config;
    this.engine = d.engine;
    this.log = d.log;
    this.registry = new Registry(d.nodeId);
    // Tick fine enough for the shortest configured deadline, never finer than 10 ms.
    this.wheel = new TimingWheel(Math.max(10, Math.min(100, Math.floor(Math.min(c.ackTimeoutMs, c.heartbeatMs, c.authTimeoutMs) / 4))), 512, (err) =>
      d.log.error({ err }, 'timer callback failed'),
    );
    this.settings = {
      ackTimeoutMs: c.ackTimeoutMs,
      ackMaxAttempts: c.ackMaxAttempts,
      maxInflight: c.maxInflight,
      replayBatch: c.replayBatch,
      retention: { maxMessages: c.inboxMaxMessages, maxAgeMs: c.inboxMaxAgeSec * 1000 },
    };
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
    } as ServerOptions & { closeTimeout: number });
    this.v2 = new V2Codecs({
      codecs: c.binaryCompression,
      threshold: c.binaryCompressionThresholdBytes,
      maxPayloadBytes: c.maxFrameBytes,
      maxDecompressedBytes: c.binaryMaxDecompressedBytes ?? c.maxFrameBytes,
    });
    this.frames = new FrameHandler(this, d);
    this.trustedProxies = new Set(c.trustedProxies);
    this.wheel.start();
  }

  get nodeId(): string {
    return this.d.nodeId;
  }

  // ---------------------------------------------------------------- upgrade

  /** Handles `upgrade` on the HTTP server for GET /ws. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, query: URLSearchParams): void {
    if (!this.accepting) {
      rejectUpgrade(socket, 503, 'Service Unavailable', 'draining', 'node is shutting down');
      return;
    }
    // Cross-site WebSocket hijacking: a foreign page's browser sends its own Origin.
    const origin = req.headers.origin;
    if (!originAllowed(origin, this.d.config.allowedOrigins)) {
      this.d.limiter.reject('origin');
      rejectUpgrade(socket, 403, 'Forbidden', 'forbidden', `origin ${origin} is not allowed`);
      return;
    }
    const ip = clientAddress(req, this.trustedProxies);
    let params: HandshakeParams | undefined;
    let refusal: string | undefined;
    try {
      params = parseHandshake(query);
    } catch (err) {
      if (!(err instanceof HandshakeError)) throw err;
      refusal = err.message;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      if (refusal !== undefined || !params) {
        this.d.stats.bump(this.d.stats.authFailures, 'bad_handshake');
        ws.close(CloseCode.ProtocolError, refusal);
        return;
      }
      const limit = this.admissionRefusal(ip);
      if (limit !== undefined) {
        ws.close(CloseCode.ConnectionLimit, limit);
        return;
      }
      const v2 = ws.protocol === BINARY_SUBPROTOCOL ? this.v2.negotiate(query.get(COMPRESSION_PARAM)) : undefined;
      this.onOpen(ws, params, ip, v2);
    });
  }

  /** Node-wide admission limits for a new socket: a reason when refused (close 4005). */
  private admissionRefusal(ip: string): string | undefined {
    const c = this.d.config;
    const l = this.d.limiter;
    if (c.maxConnections > 0 && this.live.size >= c.maxConnections) {
      l.reject('connections_per_node');
      return `connection limit of this node reached (${c.maxConnections})`;
    }
    // Connections not yet active: those still authenticating (and a few closing).
    if (c.maxPendingAuth > 0 && this.live.size - this.registry.size >= c.maxPendingAuth) {
      l.reject('pending_auth');
      return 'too many connections authenticating; retry later';
    }
    if (l.connectFromIp(ip) > 0) return 'connection rate limit of this address reached';
    return undefined;
  }

  private onOpen(ws: WebSocket, p: HandshakeParams, remote: string, v2: V2Session | undefined): void {
    const id = this.d.nodeId + '.' + (++this.connSeq).toString(36);
    const conn = new Connection(id, ws, p.device ?? '', p.platform, p.lastSeq, remote, this.connHooks, this.d.config.outboundBufferBytes);
    conn.v2 = v2;
    this.live.add(conn);
    if (p.token !== undefined) {
      ws.pause(); // nothing is read until the welcome is out
      conn.early = [];
      this.authenticate(conn, p.token).catch((err: unknown) => this.handlerFailed(conn, err));
    } else {
      this.wheel.schedule(conn.timer, this.d.config.authTimeoutMs);
    }
  }

  private async authenticate(conn: Connection, token: string): Promise<void> {
    let identity: Identity;
    try {
      identity = await this.d.verifier.verify(token);
    } catch (err) {
      const reason = err instanceof AuthError ? err.reason : 'invalid';
      this.d.stats.bump(this.d.stats.authFailures, reason);
      conn.close(CloseCode.Unauthorized, err instanceof AuthError ? err.message : 'token invalid');
      return;
    }
    // No `device` in the URL: the token's `did` names it, else "default".
    if (conn.device === '') conn.device = identity.device ?? DEFAULT_DEVICE;
    else if (identity.device !== undefined && identity.device !== conn.device) {
      this.d.stats.bump(this.d.stats.authFailures, 'device_mismatch');
      conn.close(CloseCode.Forbidden, 'device does not match the token claim "did"');
      return;
    }
    try {
      await this.activate(conn, identity);
    } catch (err) {
      this.log.error({ err, conn: conn.id }, 'activation failed');
      conn.close(TRY_AGAIN_LATER, 'engine unavailable, try again later');
    }
  }

  /** Resume point, registry, welcome, then replay. */
  private async activate(conn: Connection, id: Identity): Promise<void> {
    const { engine } = this;
    const max = this.d.config.maxConnectionsPerUser;
    const [point, devices] = await Promise.all([
      resolveStartPoint(engine, {
        tenant: id.tenant,
        user: id.user,
        device: conn.device,
        requested: conn.requestedSeq,
        retention: this.settings.retention,
        newDeviceStart: this.d.config.newDeviceStart,
      }),
      // The user's devices on every node: the per-user limit is the cluster's.
      max > 0 ? engine.userPresence(id.tenant, id.user) : [],
    ]);
    if (conn.state !== 'authenticating') return; // closed while we waited
    const { start, recovered } = point;
    const older = this.registry.device(id.tenant, id.user, conn.device);
    // This device connecting again replaces its older connection, wherever it is: not counted.
    if (max > 0 && devices.filter((d) => d.device !== conn.device).length >= max) {
      this.d.limiter.reject('connections_per_user');
      conn.close(CloseCode.ConnectionLimit, `connection limit per user reached (${max})`);
      return;
    }
    conn.user = id.user;
    conn.tenant = id.tenant;
    conn.allowRooms = id.rooms;
    conn.expiresAt = id.expiresAt;
    if (older) {
      older.close(CloseCode.Replaced, 'replaced: the same user and device connected again');
      this.detach(older);
    }
    conn.state = 'active';
    const t = this.registry.add(conn);
    const subscribed: unknown[] = [];
    if (t.firstOfUser) subscribed.push(engine.subscribe({ kind: 'user', tenant: id.tenant, user: id.user }));
    if (t.firstOfTenant) subscribed.push(engine.subscribe({ kind: 'tenant', tenant: id.tenant }));
    conn.reliable = new ReliableStream(conn, conn.v2 ? this.v2Host(conn.v2) : this, start);
    // Register the device's position at once: a device that goes offline before
    // its first ack must still find its messages waiting when it returns.
    if (!point.known) this.background(engine.setCursor(id.tenant, id.user, conn.device, start), 'cursor write');
    conn.sendText(
      welcomeFrame({
        conn: conn.id,
        node: this.d.nodeId,
        user: id.user,
        tenant: id.tenant,
        device: conn.device,
        heartbeat_ms: this.d.config.heartbeatMs,
        last_seq: start,
        recovered,
        ...(conn.v2 ? { compression: conn.v2.compression, compression_threshold: conn.v2.threshold } : {}),
      }),
    );
    this.d.stats.connects++;
    conn.lastSeen = Date.now();
    this.wheel.schedule(conn.timer, this.d.config.heartbeatMs);
    // Replay reads the inbox; live messages come over the engine's channel. Wait until the
    // channel is confirmed (bounded), so nothing appended in between falls through the crack.
    const pending = subscribed.filter((p): p is Promise<void> => p instanceof Promise);
    if (pending.length > 0) {
      await Promise.race([Promise.all(pending), new Promise((r) => setTimeout(r, SUBSCRIBE_WAIT_MS).unref())]);
      if (conn.state !== 'active') return; // closed or replaced while we waited
    }
    conn.reliable.begin();
    const early = conn.early;
    conn.early = undefined;
    if (early) for (const [data, isBinary] of early) this.onMessage(conn, data, isBinary);
    conn.ws.resume();
    const presence = { tenant: id.tenant, user: id.user, device: conn.device, platform: conn.platform, node: this.d.nodeId, conn: conn.id, since: conn.connectedAt };
    this.background(engine.presenceAdd(presence), 'presence add');
    this.background(engine.publish({ kind: 'replace', tenant: id.tenant, user: id.user, device: conn.device, conn: conn.id }), 'replace publish');
  }

  // ---------------------------------------------------------------- frames

  /**
   * One client WebSocket message. Every frame handler runs inside this guard:
   * an unexpected exception closes this one connection 1011 and is logged and
   * counted — it never reaches ws's emitter, where it would kill the process.
   */
  private onMessage(conn: Connection, data: RawData, isBinary: boolean): void {
    try {
      this.receive(conn, data, isBinary);
    } catch (err) {
      this.handlerFailed(conn, err);
    }
  }

  /** A handler of `conn`'s frame failed unexpectedly (a bug, not bad input): close that connection only. */
  private handlerFailed(conn: Connection, err: unknown): void {
    countInternalError('frame_handler');
    this.log.error({ err, conn: conn.id, user: conn.user || undefined }, 'frame handler failed; closing the connection 1011');
    try {
      conn.close(CloseCode.InternalError, 'internal error');
    } catch {
      conn.ws.terminate();
    }
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

  /** A WebSocket protocol ping (ws answers it by itself): it counts like a frame. */
  private onPing(conn: Connection): void {
    conn.lastSeen = Date.now();
    if (conn.state === 'active') this.charge(conn);
  }

  private receive(conn: Connection, data: RawData, isBinary: boolean): void {
    conn.lastSeen = Date.now();
    if (conn.early) {
      // Authentication is in progress: frames pipelined behind the token wait for the welcome.
      if (conn.early.length >= MAX_EARLY_FRAMES) conn.close(CloseCode.ProtocolError, 'too many frames before the welcome');
      else conn.early.push([data, isBinary]);
      return;
    }
    if (conn.state === 'authenticating' && frameBytes(data) > this.d.config.maxPreAuthBytes) {
      this.d.limiter.reject('pre_auth_bytes');
      conn.close(CloseCode.MessageTooBig, `frames before the welcome are limited to ${this.d.config.maxPreAuthBytes} bytes`);
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
    const buf = data as Buffer;
    // Bare-text keepalive: the cheapest possible heartbeat for constrained devices.
    if (buf.length === 4 && buf.toString() === 'ping') {
      if (conn.state === 'active' && this.charge(conn)) conn.sendText('pong');
      return;
    }
    let frame: ClientFrame;
    try {
      frame = parseClientFrame(buf.toString('utf8'), this.d.config.maxJsonDepth);
    } catch (err) {
      this.refuseFrame(conn, err);
      return;
    }
    this.onFrame(conn, frame);
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
      raw = this.v2.decode(bytes, session);
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
      this.wheel.cancel(conn.timer);
      conn.ws.pause();
      conn.early = [];
      this.authenticate(conn, frame.token).catch((err: unknown) => this.handlerFailed(conn, err));
      return;
    }
    if (conn.state !== 'active') return;
    if (frame.type === 'ack') {
      // Valid acks are exempt: a device acking what we sent must never be punished for it.
      const refusal = this.frames.ack(conn, frame.seq);
      if (refusal === undefined) this.d.metrics.ackClock.acked(conn.tenant, conn.user, frame.seq);
      // An ack of a seq never sent is no ack: it costs like any frame before it is answered.
      else if (this.charge(conn)) this.frames.refuse(conn, ErrorCode.BadAck, refusal);
      return;
    }
    if (!this.charge(conn)) return;
    // Asynchronous handlers (sync, presence, token refresh) are isolated like synchronous ones.
    this.frames.handle(conn, frame)?.catch((err: unknown) => this.handlerFailed(conn, err));
  }

  // ---------------------------------------------------------------- timers

  private onTimer(conn: Connection): void {
    if (conn.state === 'authenticating') {
      this.d.stats.bump(this.d.stats.authFailures, 'timeout');
      conn.close(CloseCode.Unauthorized, 'no auth frame within the auth timeout');
      return;
    }
    if (conn.state !== 'active') return;
    const now = Date.now();
    // Token lifetime, checked on the heartbeat tick: an `auth` refresh moves expiresAt.
    if (conn.expiresAt !== undefined && now >= conn.expiresAt + this.d.config.jwtClockToleranceSec * 1000) {
      this.d.stats.bump(this.d.stats.authFailures, 'expired_in_session');
      conn.close(CloseCode.Unauthorized, 'token expired; reconnect with a new token or refresh it with an auth frame before it expires');
      return;
    }
    const hb = this.d.config.heartbeatMs;
    const idle = now - conn.lastSeen;
    if (idle >= 2 * hb) {
      conn.close(CloseCode.HeartbeatTimeout, `no heartbeat for ${idle} ms`);
      // A silent peer will not answer the close handshake either.
      conn.ws.terminate();
      return;
    }
    // A protocol ping: browsers and ws answer it by themselves.
    if (idle >= hb / 2) conn.ws.ping();
    this.wheel.schedule(conn.timer, hb / 2);
  }

  // ---------------------------------------------------------------- close

  private onClose(conn: Connection, code: number, reason: string): void {
    const serverCode = conn.closeCode;
    conn.state = 'closed';
    this.live.delete(conn);
    this.wheel.cancel(conn.timer);
    const wasActive = this.detach(conn);
    const finalCode = serverCode ?? code;
    if (wasActive) {
      this.d.stats.bump(this.d.stats.disconnects, finalCode);
      this.d.metrics.connectionLifetime.observe((Date.now() - conn.connectedAt) / 1000);
    }
    this.log.debug({ conn: conn.id, user: conn.user || undefined, code: finalCode, reason: conn.closeReason ?? reason }, 'connection closed');
  }

  /** Removes a connection from every index exactly once; true when it was indexed. */
  private detach(conn: Connection): boolean {
    conn.reliable?.close();
    const r = this.registry.remove(conn);
    if (!r) return false;
    const { engine } = this;
    if (r.lastOfUser) engine.unsubscribe({ kind: 'user', tenant: conn.tenant, user: conn.user });
    if (r.lastOfTenant) engine.unsubscribe({ kind: 'tenant', tenant: conn.tenant });
    for (const room of r.roomsEmptied) engine.unsubscribe({ kind: 'room', tenant: conn.tenant, room });
    if (conn.rooms) {
      for (const room of conn.rooms) {
        this.background(engine.roomLeave(conn.tenant, room, { user: conn.user, device: conn.device, node: this.d.nodeId }), 'room leave');
        this.frames.presenceEvent(conn, room, 'leave');
      }
    }
    const presence = { tenant: conn.tenant, user: conn.user, device: conn.device, platform: conn.platform, node: this.d.nodeId, conn: conn.id, since: conn.connectedAt };
    this.background(engine.presenceRemove(presence), 'presence remove');
    return true;
  }

  // ---------------------------------------------------------------- delivery

  /** Writes an ephemeral frame to every local connection on the route; encodes once. */
  deliverLocal(route: Route, text: string, publishedAt?: number): number {
    // Each encoding is built at the first recipient that needs it: v1 text, v2 once per codec.
    let frame: WireFrame | undefined;
    let v2: V2Frames | undefined;
    let n = 0;
    for (const c of this.registry.lookup(route)) {
      if (c.state !== 'active') continue;
      if (c.v2 === undefined) {
        frame ??= textWireFrame(text);
        if (c.sendWire(frame)) n++;
      } else {
        v2 ??= V2Frames.ofText(text);
        if (c.sendWire(v2.get(c.v2))) n++;
      }
    }
    this.d.stats.deliveredEphemeral += n;
    this.d.stats.deliveredEphemeralTo[route.kind === 'user' && route.device !== undefined ? 'device' : route.kind] += n;
    if (n > 0 && publishedAt !== undefined) this.d.metrics.deliverLatency.observe((Date.now() - publishedAt) / 1000);
    return n;
  }

  /** After the engine missed events (transport outage): every device re-reads its inbox. */
  resyncAll(): void {
    for (const c of this.registry.all()) c.reliable?.poke();
  }

  /** Offers a newly stored reliable message to the user's local devices. */
  deliverInbox(tenant: string, user: string, m: InboxMessage): void {
    let local = false;
    for (const c of this.registry.lookup({ kind: 'user', tenant, user })) {
      local = true;
      c.reliable?.offer(m);
    }
    if (local) this.d.metrics.ackClock.stored(tenant, user, m.seq, m.ts); // publish → ack latency sample
  }

  /** Closes local connections of a user (or one device) — API disconnect. */
  disconnectLocal(tenant: string, user: string, device: string | undefined, code: number, reason: string): number {
    let n = 0;
    for (const c of [...this.registry.lookup({ kind: 'user', tenant, user, ...(device !== undefined ? { device } : {}) })]) {
      c.close(code, reason);
      n++;
    }
    return n;
  }

  /** Another node accepted `conn` for this user+device: close ours. */
  replaceLocal(tenant: string, user: string, device: string, conn: string): void {
    const c = this.registry.device(tenant, user, device);
    if (c && c.id !== conn) {
      c.close(CloseCode.Replaced, 'replaced: the same user and device connected on another node');
      this.detach(c);
    }
  }

  // ---------------------------------------------------------------- ReliableHost

  frameFor(m: InboxMessage): WireFrame {
    let f = this.frameCache.get(m);
    if (!f) {
      f = textWireFrame(reliableFrame(m));
      this.frameCache.set(m, f);
    }
    return f;
  }

  /** The reliable frame of a message for v2 connections of `session`: cached per message like the v1 one. */
  v2FrameFor(m: InboxMessage, session: V2Session): WireFrame {
    let f = this.v2Cache.get(m);
    if (!f) {
      f = V2Frames.ofReliable(m);
      this.v2Cache.set(m, f);
    }
    return f.get(session);
  }

  /** This node as the ReliableHost of v2 connections with `session`: only frameFor differs. One per codec. */
  private v2Host(session: V2Session): ReliableHost {
    let h = this.v2Hosts.get(session);
    if (!h) {
      // The same host but for the frame encoding: v2 frames, cached per message and codec.
      h = {
        engine: this.engine,
        wheel: this.wheel,
        settings: this.settings,
        log: this.log,
        frameFor: (m) => this.v2FrameFor(m, session),
        onDelivered: (m, replay) => this.onDelivered(m, replay),
        onAcked: (n) => this.onAcked(n),
        onRetried: (n) => this.onRetried(n),
        onExpired: (n) => this.onExpired(n),
      };
      this.v2Hosts.set(session, h);
    }
    return h;
  }

  onDelivered(m: InboxMessage, replay: boolean): void {
    this.d.stats.deliveredReliable++;
    this.d.stats.deliveredReliableTo[m.device === undefined ? 'user' : 'device']++;
    if (replay) this.d.stats.replayed++;
    else this.d.metrics.deliverLatency.observe((Date.now() - m.ts) / 1000);
  }

  onAcked(n: number): void {
    this.d.stats.acked += n;
  }

  onRetried(n: number): void {
    this.d.stats.retried += n;
  }

  /** Reliable messages skipped because their ttl ran out (herald_messages_expired_total). */
  onExpired(n: number): void {
    this.d.stats.expired += n;
  }

  // ---------------------------------------------------------------- shutdown

  /** Stops accepting new WebSocket upgrades. */
  stopAccepting(): void {
    this.accepting = false;
  }

  /**
   * Closes every connection with `code`, in waves spread evenly over
   * `windowMs` (one wave per ~100 ms) so that clients do not all reconnect at
   * the same instant; waits until all are closed, bounded by `timeoutMs` from
   * the start (stragglers are then terminated); then waits for the cursor
   * writes of every closed reliable stream. `windowMs` 0 closes all at once.
   */
  async closeAll(code: number, reason: string, timeoutMs: number, windowMs = 0): Promise<void> {
    const started = Date.now();
    const conns = [...this.live];
    // Captured now: closed connections leave the registry, their cursor writes must still be awaited.
    const streams = conns.flatMap((c) => (c.reliable ? [c.reliable] : []));
    const closed = conns.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.ws.readyState === 3) return resolve();
          c.ws.once('close', () => resolve());
        }),
    );
    const deadline = new Promise<void>((r) => setTimeout(r, timeoutMs).unref());
    const window = Math.max(0, Math.min(windowMs, timeoutMs));
    const waves = Math.max(1, Math.min(conns.length, Math.ceil(window / 100)));
    const perWave = Math.ceil(conns.length / waves);
    for (let w = 0; w < waves; w++) {
      const at = started + Math.floor((w * window) / waves);
      if (at > Date.now()) await new Promise((r) => setTimeout(r, at - Date.now()));
      for (const c of conns.slice(w * perWave, (w + 1) * perWave)) c.close(code, reason);
    }
    await Promise.race([Promise.all(closed), deadline]);
    for (const c of this.live) c.ws.terminate();
    await Promise.race([Promise.all(streams.map((s) => s.flush())), deadline]);
  }

  close(): void {
    this.wheel.stop();
    this.wss.close();
  }

  get liveCount(): number {
    return this.live.size;
  }

  private background(p: Promise<unknown>, what: string): void {
    p.catch((err: unknown) => this.log.warn({ err }, `${what} failed`));
  }
}

function frameBytes(data: RawData): number {
  if (Array.isArray(data)) return data.reduce((n, b) => n + b.length, 0);
  return data instanceof ArrayBuffer ? data.byteLength : data.length;
}
