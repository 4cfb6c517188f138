/**
 * The session lifecycle of WebSocket connections: open, authenticate,
 * activate (resume point, replacement, registry, welcome, replay), heartbeat
 * and token expiry on the wheel, detach and close. Every transition that the
 * business may care about is reported on the lifecycle seam.
 */
import type { WebSocket } from 'ws';
import { CloseCode } from '@herald/protocol';
import type { HeraldConfig } from '../config/schema.js';
import type { DeliveryHub } from '../delivery/hub.js';
import type { Logger } from '../observability/logger.js';
import type { Stats } from '../observability/stats.js';
import type { V2Session } from '../protocol/v2Frames.js';
import type { Identity } from '../auth/jwtVerifier.js';
import type { ConnectHook, ConnectRequest } from '../hooks/connectHook.js';
import type { Limiter } from '../limits/limiter.js';
import { IdentityRefused, type Activation } from './activation.js';
import { Connection, type ConnectionHooks, type GatewayWebSocket } from './connection.js';
import { drainInWaves } from './drainWaves.js';
import type { HandshakeParams } from './handshake.js';

export interface SessionsDeps {
  config: HeraldConfig;
  hub: DeliveryHub;
  stats: Stats;
  log: Logger;
  /** What WebSocket and SSE sessions share: identity, activation, expiry, detach. */
  core: Activation;
  limiter: Limiter;
  /** Authenticates connections without a token in the URL, when configured. */
  connectHook?: ConnectHook | undefined;
}

/** The welcome of a v1 connection has no transport fields: one shared empty object, not one per connect. */
const NO_EXTRA: Record<string, unknown> = Object.freeze({});

/** Frames a client may pipeline behind its token before the welcome. */
export const MAX_EARLY_FRAMES = 16;

export class Sessions {
  /** Connections not yet closed, authenticated or not (for shutdown and admission). */
  readonly live = new Set<Connection>();
  /** Set by the gateway: the one hooks object every Connection shares. */
  hooks!: ConnectionHooks;
  /** Set by the gateway: frames that arrived during authentication are fed back through ingress. */
  replayEarly!: (conn: Connection) => void;
  /** Set by the gateway: isolates a failed asynchronous handler (close 1011). */
  failed!: (conn: Connection, err: unknown) => void;
  private readonly core: Activation;

  constructor(private readonly d: SessionsDeps) {
    this.core = d.core;
  }

  open(ws: WebSocket, p: HandshakeParams, v2: V2Session | undefined, request?: ConnectRequest): void {
    const d = this.d;
    const id = this.core.newId();
    // The gateway's server makes every socket a GatewayWebSocket (gateway.ts).
    const conn = new Connection(id, ws as GatewayWebSocket, p.device ?? '', p.platform, p.lastSeq, this.hooks);
    conn.v2 = v2;
    this.live.add(conn);
    if (p.token !== undefined) this.authenticate(conn, p.token);
    else if (d.connectHook !== undefined && request !== undefined) this.authenticateByHook(conn, d.connectHook, request);
    else d.hub.wheel.schedule(conn.timer, d.config.authTimeoutMs);
  }

  /**
   * No token in the URL and a connect hook configured: the backend decides, from the upgrade
   * request. Reading pauses as for a token; the hook's own timeout bounds the wait.
   */
  private authenticateByHook(conn: Connection, hook: ConnectHook, request: ConnectRequest): void {
    conn.ws.pause();
    conn.early = [];
    hook
      .authenticate(request)
      .then(async (out) => {
        if (conn.state !== 'authenticating') return; // closed while the backend answered
        if (out.ok) return this.admitFromHook(conn, out.identity);
        this.d.stats.bump(this.d.stats.authFailures, out.why === 'rejected' ? 'hook_rejected' : 'hook_unavailable');
        conn.close(out.code, out.reason);
      })
      .catch((err: unknown) => this.failed(conn, err));
  }

  /** Starts authenticating with `token` (URL or auth frame): reading pauses until the welcome is out. */
  authenticate(conn: Connection, token: string): void {
    this.d.hub.wheel.cancel(conn.timer);
    conn.ws.pause();
    conn.early = [];
    this.verify(conn, token).catch((err: unknown) => this.failed(conn, err));
  }

  private async verify(conn: Connection, token: string): Promise<void> {
    let identity: Identity;
    try {
      // Verified, and the device checked against the token's `did`.
      const who = await this.core.identify(token, conn.device);
      identity = who.identity;
      conn.device = who.device;
    } catch (err) {
      if (!(err instanceof IdentityRefused)) throw err;
      conn.close(err.code, err.message);
      return;
    }
    const activation = this.admit(conn, identity);
    if (activation === undefined) return;
    try {
      await activation;
    } catch (err) {
      this.activationFailed(conn, err);
    }
  }

  /** A connect-hook identity: the device check a token gets in `identify`, then admission. */
  private async admitFromHook(conn: Connection, identity: Identity): Promise<void> {
    try {
      conn.device = this.core.deviceOf(identity, conn.device);
    } catch (err) {
      if (!(err instanceof IdentityRefused)) throw err;
      conn.close(err.code, err.message);
      return;
    }
    const activation = this.admit(conn, identity);
    if (activation === undefined) return;
    try {
      await activation;
    } catch (err) {
      this.activationFailed(conn, err);
    }
  }

  /**
   * An identity whose device is settled: the tenant's features, then activation — its promise, which
   * the caller awaits (issue 20: not an async function of its own, one promise and await per connect
   * fewer); undefined when the connection was refused here.
   */
  private admit(conn: Connection, identity: Identity): Promise<void> | undefined {
    // Per-tenant feature switch (tenantOverrides.<t>.features.binaryProtocol): the subprotocol was
    // chosen before the identity named the tenant, so a tenant with it off is told to use v1.
    if (conn.v2 && !this.d.limiter.live.feature(identity.tenant, 'binaryProtocol')) {
      conn.close(CloseCode.Forbidden, 'binary protocol is off for this tenant; connect with protocol v1');
      return undefined;
    }
    const v2 = conn.v2 ? { compression: conn.v2.compression, compression_threshold: conn.v2.threshold } : NO_EXTRA;
    return this.core.activate(
      conn,
      identity,
      () => {
        this.replayEarly(conn);
        conn.ws.resume();
      },
      v2,
    );
  }

  /** The engine failed during activation: the client is told to come back later (1013). */
  private activationFailed(conn: Connection, err: unknown): void {
    this.d.log.error({ err, conn: conn.id }, 'activation failed');
    conn.close(CloseCode.TryAgainLater, 'engine unavailable, try again later');
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
    if (this.core.expired(conn, now)) return;
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
    this.live.delete(conn);
    this.core.ended(conn, code, reason);
  }

  /** Removes a connection from every index exactly once; true when it was indexed. */
  detach(conn: Connection): boolean {
    return this.core.detach(conn);
  }

  /** Closes every connection with `code`, in waves over `windowMs`, bounded by `timeoutMs` (drainWaves.ts). */
  closeAll(code: number, reason: string, timeoutMs: number, windowMs = 0): Promise<void> {
    return drainInWaves(
      [...this.live],
      {
        closed: (c) => new Promise<void>((resolve) => (c.ws.readyState === 3 ? resolve() : c.ws.once('close', () => resolve()))),
        terminate: (c) => c.ws.terminate(),
        live: () => this.live,
      },
      code,
      reason,
      timeoutMs,
      windowMs,
    );
  }
}
