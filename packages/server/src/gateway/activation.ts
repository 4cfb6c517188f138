/**
 * The transport-independent part of a session's life, shared by WebSocket
 * (sessions.ts) and Server-Sent Events (sse/): who the token says the client
 * is, activation (start point, per-user limit, replacement 4004, registry,
 * engine subscriptions, reliable stream, welcome, replay, presence), token
 * expiry, and leaving every index once at the end. Transports add only what
 * is theirs: reading frames, heartbeats on the wire, closing the socket.
 */
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
import type { GatewaySession } from './gatewaySession.js';
import type { Rooms } from './rooms.js';

export interface ActivationDeps {
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

/** A token that does not admit the client: the close code (4001/4003) and why. */
export class IdentityRefused extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/** Longest wait for the engine to confirm a new subscription during a handshake, ms. */
const SUBSCRIBE_WAIT_MS = 3000;

export class Activation {
  private seq = 0;

  constructor(readonly d: ActivationDeps) {}

  /** A session id unique in the cluster (`<node>.<n>`), whatever the transport. */
  newId(): string {
    return this.d.nodeId + '.' + (++this.seq).toString(36);
  }

  /**
   * Verifies `token` for a client that named `device` ('' when it named none: the token's
   * `did`, else "default"). Throws IdentityRefused (4001 bad token, 4003 device mismatch).
   */
  async identify(token: string, device: string): Promise<{ identity: Identity; device: string }> {
    const d = this.d;
    let identity: Identity;
    try {
      identity = await d.verifier.verify(token);
    } catch (err) {
      d.stats.bump(d.stats.authFailures, err instanceof AuthError ? err.reason : 'invalid');
      throw new IdentityRefused(CloseCode.Unauthorized, err instanceof AuthError ? err.message : 'token invalid');
    }
    return { identity, device: this.deviceOf(identity, device) };
  }

  /**
   * The device of a session whose identity came from a token or the connect hook: the one the
   * client named, else the identity's, else "default". Throws IdentityRefused (4003) on a mismatch.
   */
  deviceOf(identity: Identity, device: string): string {
    if (device === '') return identity.device ?? DEFAULT_DEVICE;
    if (identity.device !== undefined && identity.device !== device) {
      this.d.stats.bump(this.d.stats.authFailures, 'device_mismatch');
      throw new IdentityRefused(CloseCode.Forbidden, 'device does not match the token claim "did"');
    }
    return device;
  }

  /**
   * Resume point, per-user limit, replacement, registry, welcome, then replay. `started` runs
   * once replay has begun (the transport's own steps: e.g. frames that arrived early, rooms).
   * `welcomeExtra` adds transport fields to the welcome. Failures of the engine reject.
   */
  async activate(s: GatewaySession, id: Identity, started: () => void, welcomeExtra: Record<string, unknown> = {}): Promise<void> {
    const d = this.d;
    const { engine, hub } = d;
    const max = d.limiter.maxConnectionsPerUser(id.tenant);
    const retention = hub.settings.retention;
    // An engine across a network reads all of it in one round trip (the same answers, see engine/types.ts).
    const pre = engine.connectReads
      ? await engine.connectReads({ tenant: id.tenant, user: id.user, device: s.device, cursor: true, presence: max > 0, retention })
      : undefined;
    const [point, devices] = await Promise.all([
      resolveStartPoint(pre?.inbox ?? engine, {
        tenant: id.tenant,
        user: id.user,
        device: s.device,
        requested: s.requestedSeq,
        retention,
        newDeviceStart: d.config.newDeviceStart,
        // Read with the rest anyway: with `last_seq`, a stored cursor not behind it is not written again (issue 20).
        readCursor: pre !== undefined,
      }),
      // The user's devices on every node: the per-user limit is the cluster's.
      max > 0 ? (pre?.presence ?? engine.userPresence(id.tenant, id.user)) : [],
    ]);
    if (s.state !== 'authenticating') return; // closed while we waited
    const { start, recovered } = point;
    const older = hub.registry.device(id.tenant, id.user, s.device);
    // This device connecting again replaces its older connection, wherever it is: not counted.
    if (max > 0 && devices.filter((x) => x.device !== s.device).length >= max) {
      d.limiter.reject('connections_per_user');
      s.close(CloseCode.ConnectionLimit, `connection limit per user reached (${max})`);
      return;
    }
    s.user = id.user;
    s.tenant = id.tenant;
    s.allowRooms = id.rooms;
    s.expiresAt = id.expiresAt;
    older?.evict(CloseCode.Replaced, 'replaced: the same user and device connected again');
    s.state = 'active';
    const t = hub.registry.add(s);
    const subscribed: unknown[] = [];
    if (t.firstOfUser) subscribed.push(engine.subscribe({ kind: 'user', tenant: id.tenant, user: id.user }));
    if (t.firstOfTenant) subscribed.push(engine.subscribe({ kind: 'tenant', tenant: id.tenant }));
    s.reliable = new ReliableStream(s, hub, start);
    const pending = subscribed.filter((p): p is Promise<void> => p instanceof Promise);
    // Register the device's position at once: a device that goes offline before its first ack must
    // still find its messages waiting when it returns. An engine with connectStart writes it with the
    // connect's other writes when they go out now, i.e. when nothing is awaited first (issue 20).
    const cursor = point.known ? undefined : start;
    const cursorLater = engine.connectStart !== undefined && pending.length === 0;
    if (cursor !== undefined && !cursorLater) this.background(engine.setCursor(id.tenant, id.user, s.device, cursor), 'cursor write');
    s.sendText(
      welcomeFrame({
        conn: s.id,
        node: d.nodeId,
        user: id.user,
        tenant: id.tenant,
        device: s.device,
        heartbeat_ms: d.config.heartbeatMs,
        last_seq: start,
        recovered,
        ...welcomeExtra,
      }),
    );
    d.events.connected(s);
    s.lastSeen = Date.now();
    hub.wheel.schedule(s.timer, d.config.heartbeatMs);
    // Replay reads the inbox; live messages come over the engine's channel. Wait until the
    // channel is confirmed (bounded), so nothing appended in between falls through the crack.
    if (pending.length > 0) {
      // The bound's timer is cleared once the channel is confirmed (issue 20): left to run, it kept
      // each connect's wait (timer, promises) alive for 3 s, long enough to be promoted to V8's old
      // space during a connect burst — old-space garbage that stayed in the node's RSS.
      let bound: NodeJS.Timeout | undefined;
      await Promise.race([
        pending.length === 1 ? pending[0] : Promise.all(pending),
        new Promise((r) => {
          bound = setTimeout(r, SUBSCRIBE_WAIT_MS);
          bound.unref();
        }),
      ]);
      clearTimeout(bound);
      if (s.state !== 'active') return; // closed or replaced while we waited
    }
    // The `replace` event (older sessions of this device on other nodes close) goes out with the
    // presence record: on Redis one command for both, and for the replay's first read (issue 20).
    const replace = { kind: 'replace', tenant: id.tenant, user: id.user, device: s.device, conn: s.id, at: s.connectedAt } as const;
    const announce = older === undefined;
    const settings = hub.settings;
    const added = engine.connectStart?.(
      { presence: this.presenceOf(s), announce, publish: replace, cursor: cursorLater ? cursor : undefined, replay: { after: start, limit: Math.min(settings.replayBatch, settings.maxInflight), retention } },
      s.reliable,
    );
    if (added === undefined) s.reliable.begin();
    started();
    (added ?? engine.presenceAdd(this.presenceOf(s), announce, replace)).then(
      // The engine decides "first in the cluster" atomically. A device that replaced its own older
      // session was online all along.
      (first) => first && older === undefined && d.events.online(s.tenant, s.user, s),
      (err: unknown) => d.log.warn({ err }, 'presence add (and replace publish) failed'),
    );
  }

  /** Closes an active session whose token ran out (checked on its heartbeat tick); true when it did. */
  expired(s: GatewaySession, now: number): boolean {
    const d = this.d;
    if (s.expiresAt === undefined || now < s.expiresAt + d.config.jwtClockToleranceSec * 1000) return false;
    d.stats.bump(d.stats.authFailures, 'expired_in_session');
    s.close(CloseCode.Unauthorized, 'token expired; reconnect with a new token or refresh it with an auth frame before it expires');
    return true;
  }

  /** The session ended (its transport closed): leaves every index, reports `disconnected` once. */
  ended(s: GatewaySession, peerCode: number, peerReason: string): void {
    s.state = 'closed';
    this.d.hub.wheel.cancel(s.timer);
    this.detach(s);
    const code = s.closeCode ?? peerCode;
    const reason = s.closeReason ?? peerReason;
    // Every session that was ever active ends once here, replaced ones (4004) included.
    if (s.reliable !== undefined) this.d.events.disconnected(s, code, reason);
    this.d.log.debug({ conn: s.id, user: s.user || undefined, code, reason }, 'connection closed');
  }

  /** Removes a session from every index exactly once; true when it was indexed. */
  detach(s: GatewaySession): boolean {
    s.reliable?.close();
    const { engine, hub, rooms } = this.d;
    const r = hub.registry.remove(s);
    if (!r) return false;
    if (r.lastOfUser) engine.unsubscribe({ kind: 'user', tenant: s.tenant, user: s.user });
    if (r.lastOfTenant) engine.unsubscribe({ kind: 'tenant', tenant: s.tenant });
    rooms.leaveAll(s, r.roomsEmptied);
    engine.presenceRemove(this.presenceOf(s), s.closeCode !== CloseCode.Replaced).then(
      // `last` is decided atomically by the engine. A replaced session (4004) leaves its place to
      // the new one: the user stays online.
      (last) => last && s.closeCode !== CloseCode.Replaced && this.d.events.offline(s.tenant, s.user, 'disconnected', s),
      (err: unknown) => this.d.log.warn({ err }, 'presence remove failed'),
    );
    return true;
  }

  private presenceOf(s: GatewaySession): DevicePresence {
    return { tenant: s.tenant, user: s.user, device: s.device, platform: s.platform, node: this.d.nodeId, conn: s.id, since: s.connectedAt };
  }

  private background(p: Promise<unknown>, what: string): void {
    p.catch((err: unknown) => this.d.log.warn({ err }, `${what} failed`));
  }
}
