/**
 * The session lifecycle of WebSocket connections: open, authenticate,
 * activate (resume point, replacement, registry, welcome, replay), heartbeat
 * and token expiry on the wheel, detach and close. Every transition that the
 * business may care about is reported on the lifecycle seam.
 */
import type { WebSocket } from 'ws';
import { CloseCode, DEFAULT_DEVICE } from '@herald/protocol';
import { AuthError, type Identity, type JwtVerifier } from '../auth/jwtVerifier.js';
import type { HeraldConfig } from '../config/schema.js';
import type { DeliveryHub } from '../delivery/hub.js';
import { ReliableStream } from '../delivery/reliableStream.js';
import { resolveStartPoint } from '../delivery/startPoint.js';
import type { DevicePresence, Engine } from '../engine/types.js';
import type { LifecycleEvents } from '../events/lifecycle.js';
import type { Limiter } from '../limits/limiter.js';
import type { Logger } from '../observability/logger.js';
import type { Stats } from '../observability/stats.js';
import { welcomeFrame } from '../protocol/serverFrames.js';
import type { V2Session } from '../protocol/v2Frames.js';
import { Connection, type ConnectionHooks } from './connection.js';
import type { HandshakeParams } from './handshake.js';
import type { Rooms } from './rooms.js';

export interface SessionsDeps {
  config: HeraldConfig;
  nodeId: string;
  engine: Engine;
  verifier: JwtVerifier;
  hub: DeliveryHub;
  rooms: Rooms;
  events: LifecycleEvents;
  limiter: Limiter;
  stats: Stats;
  log: Logger;
}

/** Frames a client may pipeline behind its token before the welcome. */
export const MAX_EARLY_FRAMES = 16;

/** Longest wait for the engine to confirm a new subscription during a handshake, ms. */
const SUBSCRIBE_WAIT_MS = 3000;

export class Sessions {
  /** Connections not yet closed, authenticated or not (for shutdown and admission). */
  readonly live = new Set<Connection>();
  private connSeq = 0;
  /** Set by the gateway: the one hooks object every Connection shares. */
  hooks!: ConnectionHooks;
  /** Set by the gateway: frames that arrived during authentication are fed back through ingress. */
  replayEarly!: (conn: Connection) => void;
  /** Set by the gateway: isolates a failed asynchronous handler (close 1011). */
  failed!: (conn: Connection, err: unknown) => void;

  constructor(private readonly d: SessionsDeps) {}

  open(ws: WebSocket, p: HandshakeParams, remote: string, v2: V2Session | undefined): void {
    const d = this.d;
    const id = d.nodeId + '.' + (++this.connSeq).toString(36);
    const conn = new Connection(id, ws, p.device ?? '', p.platform, p.lastSeq, remote, this.hooks, d.config.outboundBufferBytes);
    conn.v2 = v2;
    this.live.add(conn);
    if (p.token !== undefined) this.authenticate(conn, p.token);
    else d.hub.wheel.schedule(conn.timer, d.config.authTimeoutMs);
  }

  /** Starts authenticating with `token` (URL or auth frame): reading pauses until the welcome is out. */
  authenticate(conn: Connection, token: string): void {
    this.d.hub.wheel.cancel(conn.timer);
    conn.ws.pause();
    conn.early = [];
    this.verify(conn, token).catch((err: unknown) => this.failed(conn, err));
  }

  private async verify(conn: Connection, token: string): Promise<void> {
    const d = this.d;
    let identity: Identity;
    try {
      identity = await d.verifier.verify(token);
    } catch (err) {
      const reason = err instanceof AuthError ? err.reason : 'invalid';
      d.stats.bump(d.stats.authFailures, reason);
      conn.close(CloseCode.Unauthorized, err instanceof AuthError ? err.message : 'token invalid');
      return;
    }
    // No `device` in the URL: the token's `did` names it, else "default".
    if (conn.device === '') conn.device = identity.device ?? DEFAULT_DEVICE;
    else if (identity.device !== undefined && identity.device !== conn.device) {
      d.stats.bump(d.stats.authFailures, 'device_mismatch');
      conn.close(CloseCode.Forbidden, 'device does not match the token claim "did"');
      return;
    }
    try {
      await this.activate(conn, identity);
    } catch (err) {
      d.log.error({ err, conn: conn.id }, 'activation failed');
      conn.close(CloseCode.TryAgainLater, 'engine unavailable, try again later');
    }
  }

  /** Resume point, registry, welcome, then replay. */
  private async activate(conn: Connection, id: Identity): Promise<void> {
    const d = this.d;
    const { engine, hub } = d;
    const max = d.config.maxConnectionsPerUser;
    const [point, devices] = await Promise.all([
      resolveStartPoint(engine, {
        tenant: id.tenant,
        user: id.user,
        device: conn.device,
        requested: conn.requestedSeq,
        retention: hub.settings.retention,
        newDeviceStart: d.config.newDeviceStart,
      }),
      // The user's devices on every node: the per-user limit is the cluster's.
      max > 0 ? engine.userPresence(id.tenant, id.user) : [],
    ]);
    if (conn.state !== 'authenticating') return; // closed while we waited
    const { start, recovered } = point;
    const older = hub.registry.device(id.tenant, id.user, conn.device);
    // This device connecting again replaces its older connection, wherever it is: not counted.
    if (max > 0 && devices.filter((x) => x.device !== conn.device).length >= max) {
      d.limiter.reject('connections_per_user');
      conn.close(CloseCode.ConnectionLimit, `connection limit per user reached (${max})`);
      return;
    }
    conn.user = id.user;
    conn.tenant = id.tenant;
    conn.allowRooms = id.rooms;
    conn.expiresAt = id.expiresAt;
    older?.evict(CloseCode.Replaced, 'replaced: the same user and device connected again');
    conn.state = 'active';
    const t = hub.registry.add(conn);
    const subscribed: unknown[] = [];
    if (t.firstOfUser) subscribed.push(engine.subscribe({ kind: 'user', tenant: id.tenant, user: id.user }));
    if (t.firstOfTenant) subscribed.push(engine.subscribe({ kind: 'tenant', tenant: id.tenant }));
    conn.reliable = new ReliableStream(conn, hub, start);
    // Register the device's position at once: a device that goes offline before
    // its first ack must still find its messages waiting when it returns.
    if (!point.known) this.background(engine.setCursor(id.tenant, id.user, conn.device, start), 'cursor write');
    conn.sendText(
      welcomeFrame({
        conn: conn.id,
        node: d.nodeId,
        user: id.user,
        tenant: id.tenant,
        device: conn.device,
        heartbeat_ms: d.config.heartbeatMs,
        last_seq: start,
        recovered,
        ...(conn.v2 ? { compression: conn.v2.compression, compression_threshold: conn.v2.threshold } : {}),
      }),
    );
    d.events.connected(conn);
    conn.lastSeen = Date.now();
    hub.wheel.schedule(conn.timer, d.config.heartbeatMs);
    // Replay reads the inbox; live messages come over the engine's channel. Wait until the
    // channel is confirmed (bounded), so nothing appended in between falls through the crack.
    const pending = subscribed.filter((p): p is Promise<void> => p instanceof Promise);
    if (pending.length > 0) {
      await Promise.race([Promise.all(pending), new Promise((r) => setTimeout(r, SUBSCRIBE_WAIT_MS).unref())]);
      if (conn.state !== 'active') return; // closed or replaced while we waited
    }
    conn.reliable.begin();
    this.replayEarly(conn);
    conn.ws.resume();
    const presence = this.presenceOf(conn);
    engine.presenceAdd(presence).then(
      // The engine decides "first in the cluster" atomically. A device that replaced its own older
      // connection was online all along.
      (first) => first && older === undefined && d.events.online(conn.tenant, conn.user, conn),
      (err: unknown) => d.log.warn({ err }, 'presence add failed'),
    );
    this.background(engine.publish({ kind: 'replace', tenant: id.tenant, user: id.user, device: conn.device, conn: conn.id }), 'replace publish');
  }

  private presenceOf(conn: Connection): DevicePresence {
    return { tenant: conn.tenant, user: conn.user, device: conn.device, platform: conn.platform, node: this.d.nodeId, conn: conn.id, since: conn.connectedAt };
  }

  /** The wheel timer of a connection: the auth deadline, then heartbeat checks and token expiry. */
  onTimer(conn: Connection): void {
    const d = this.d;
    if (conn.state === 'authenticating') {
      d.stats.bump(d.stats.authFailures, 'timeout');
      conn.close(CloseCode.Unauthorized, 'no auth frame within the auth timeout');
      return;
    }
    if (conn.state !== 'active') return;
    const now = Date.now();
    // Token lifetime, checked on the heartbeat tick: an `auth` refresh moves expiresAt.
    if (conn.expiresAt !== undefined && now >= conn.expiresAt + d.config.jwtClockToleranceSec * 1000) {
      d.stats.bump(d.stats.authFailures, 'expired_in_session');
      conn.close(CloseCode.Unauthorized, 'token expired; reconnect with a new token or refresh it with an auth frame before it expires');
      return;
    }
    const hb = d.config.heartbeatMs;
    const idle = now - conn.lastSeen;
    if (idle >= 2 * hb) {
      conn.close(CloseCode.HeartbeatTimeout, `no heartbeat for ${idle} ms`);
      // A silent peer will not answer the close handshake either.
      conn.ws.terminate();
      return;
    }
    // A protocol ping: browsers and ws answer it by themselves.
    if (idle >= hb / 2) conn.ws.ping();
    d.hub.wheel.schedule(conn.timer, hb / 2);
  }

  onClose(conn: Connection, code: number, reason: string): void {
    const serverCode = conn.closeCode;
    conn.state = 'closed';
    this.live.delete(conn);
    this.d.hub.wheel.cancel(conn.timer);
    this.detach(conn);
    const finalCode = serverCode ?? code;
    // Every session that was ever active ends once here, replaced ones (4004) included.
    if (conn.reliable !== undefined) this.d.events.disconnected(conn, finalCode, conn.closeReason ?? reason);
    this.d.log.debug({ conn: conn.id, user: conn.user || undefined, code: finalCode, reason: conn.closeReason ?? reason }, 'connection closed');
  }

  /** Removes a connection from every index exactly once; true when it was indexed. */
  detach(conn: Connection): boolean {
    conn.reliable?.close();
    const { engine, hub, rooms } = this.d;
    const r = hub.registry.remove(conn);
    if (!r) return false;
    if (r.lastOfUser) engine.unsubscribe({ kind: 'user', tenant: conn.tenant, user: conn.user });
    if (r.lastOfTenant) engine.unsubscribe({ kind: 'tenant', tenant: conn.tenant });
    rooms.leaveAll(conn, r.roomsEmptied);
    engine.presenceRemove(this.presenceOf(conn)).then(
      // `last` is decided atomically by the engine. A replaced connection (4004) leaves its place to
      // the new one: the user stays online.
      (last) => last && conn.closeCode !== CloseCode.Replaced && this.d.events.offline(conn.tenant, conn.user, 'disconnected', conn),
      (err: unknown) => this.d.log.warn({ err }, 'presence remove failed'),
    );
    return true;
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

  private background(p: Promise<unknown>, what: string): void {
    p.catch((err: unknown) => this.d.log.warn({ err }, `${what} failed`));
  }
}
