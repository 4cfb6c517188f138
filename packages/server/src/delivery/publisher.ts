/**
 * The publish pipeline shared by the HTTP API, batch publishes and stream
 * ingest: validate → idempotency → store (reliable) → deliver locally →
 * hand to the engine for the other nodes.
 */
import { randomMessageId } from './messageId.js';
import type { AppendOnce, Engine, InboxMessage, NewInboxMessage, Retention, Route, StoredMessage } from '../engine/types.js';
import type { DeliveryHub } from './hub.js';
import type { Stats } from '../observability/stats.js';
import { ApiError } from '../errors.js';
import type { EventRefusal, Limiter } from '../limits/limiter.js';
import { messageFrame, type EphemeralMessage } from '../protocol/serverFrames.js';
import { parsePublish, resolveTarget, type PublishBody, type ResolvedTarget } from './publishRequest.js';
import { inSpan, NO_SPAN, tracingActive, type Span } from '../observability/tracing.js';
import { withIdempotency } from './idempotency.js';
import { payloadOf } from './payload.js';
import { withRoom, type RoomPublisher } from '../rooms/roomPublish.js';

export interface PublishResult {
  id: string;
  /** Per-user seq of reliable messages. */
  seq?: Record<string, number>;
  /**
   * Connections the message reached (online now), across the cluster. Best-effort:
   * absent when the count could not be read — the message was still published.
   */
  online?: number;
  /** Room targets with history: the message's offset and the room's epoch. */
  offset?: number;
  epoch?: string;
}

export interface PublisherSettings {
  maxMessageBytes: number;
  idempotencyTtlMs: number;
  /** Lease of a pending idempotency claim (delivery/idempotency.ts). */
  idempotencyLeaseMs?: number;
  /** Largest `notify_unacked_after`, seconds (config notifyUnackedMaxSec). */
  notifyUnackedMaxSec?: number;
}

const DEFAULT_IDEMPOTENCY_LEASE_MS = 5_000;

export class Publisher {
  /** Load shedding: seconds to tell a refused ephemeral publish to wait, 0 when accepted (limits/loadShedder.ts). */
  refuseEphemeral: (() => number) | undefined;

  constructor(
    private readonly engine: Engine,
    private readonly hub: DeliveryHub,
    private readonly stats: Stats,
    private readonly s: PublisherSettings,
    private readonly limiter?: Limiter,
    /** Room targets: history (offsets) when the room keeps it. */
    private readonly rooms?: RoomPublisher,
  ) {}

  /**
   * Set by the webhooks when they send `unacked` events: registers the deadline of a stored
   * message (`notify_unacked_after`); never rejects (a failure is logged there — the message is
   * stored, and failing the publish would make a retry store it twice). Unset: the option is
   * accepted and has no effect.
   */
  watchUnacked: ((tenant: string, user: string, m: InboxMessage, afterSec: number) => Promise<void>) | undefined;

  /**
   * Validates and publishes an untrusted body. `fieldPrefix` prefixes error field names (batch items);
   * `rateLimited` applies the per-tenant API rate (HTTP API requests, not stream ingest).
   */
  publishUnknown(body: unknown, fieldPrefix = '', rateLimited = false): Promise<PublishResult> {
    // Anything thrown is still a rejection for the caller.
    try {
      const r = this.publishUnknownNow(body, fieldPrefix, rateLimited);
      return r instanceof Promise ? r : Promise.resolve(r);
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  /**
   * `publishUnknown` that answers without a promise when every step was synchronous (the node's
   * own buckets, no tracing SDK, no idempotency key, and an engine that stores, hands over and
   * counts synchronously: the memory engine), else the pipeline's promise. Throws what
   * `publishUnknown` would reject with (the HTTP API calls it inside a reaction: issue 20).
   */
  publishUnknownNow(body: unknown, fieldPrefix = '', rateLimited = false): PublishResult | Promise<PublishResult> {
    const parsed = parsePublish(body, fieldPrefix);
    // Resolved once: the limits and the pipeline read the same routes.
    const target = resolveTarget(parsed.to);
    const limiter = this.limiter;
    if (limiter && (rateLimited || parsed.event !== undefined)) {
      const pending = checkLimits(limiter, parsed, target.routes, fieldPrefix, rateLimited);
      if (pending !== undefined) return pending.then(() => this.publishResolved(parsed, target, fieldPrefix));
    }
    const key = parsed.idempotency_key;
    if (key !== undefined) return this.publishOnce(parsed, target, fieldPrefix, key);
    // Without a tracing SDK the span would be a no-op: the pipeline is called as inSpan would.
    if (!tracingActive()) return this.pipeline(parsed, target, fieldPrefix, NO_SPAN);
    return this.run(parsed, target, fieldPrefix);
  }

  publish(body: PublishBody, fieldPrefix = ''): Promise<PublishResult> {
    return this.publishResolved(body, resolveTarget(body.to), fieldPrefix);
  }

  private publishResolved(body: PublishBody, target: ResolvedTarget, fieldPrefix: string): Promise<PublishResult> {
    const key = body.idempotency_key;
    // Without a key (the common case) the pipeline's own promise: no async layer per publish.
    // run() cannot throw synchronously (inSpan calls an async function), so callers still see a rejection.
    if (key === undefined) return this.run(body, target, fieldPrefix);
    return this.publishOnce(body, target, fieldPrefix, key);
  }

  private async publishOnce(body: PublishBody, target: ResolvedTarget, fieldPrefix: string, key: string): Promise<PublishResult> {
    const settings = { ttlMs: this.s.idempotencyTtlMs, leaseMs: this.s.idempotencyLeaseMs ?? DEFAULT_IDEMPOTENCY_LEASE_MS };
    return (await withIdempotency(this.engine, key, settings, () => this.run(body, target, fieldPrefix))) as PublishResult;
  }

  /**
   * Appends to the inbox; an engine failure becomes 503 so nothing unstored is ever acknowledged.
   * Not async: one reaction maps the failure (reliable publishes, issue 20).
   */
  private store(tenant: string, user: string, msg: NewInboxMessage, retention: Retention, once: AppendOnce | undefined): Promise<StoredMessage> {
    try {
      return this.engine.append(tenant, user, msg, retention, once).then(undefined, throwStoreError);
    } catch (err) {
      return Promise.reject(storeError(err));
    }
  }

  /** Traced (no-op without an OpenTelemetry SDK): herald.publish → herald.store | herald.fanout. */
  private run(body: PublishBody, target: ResolvedTarget, fieldPrefix: string): Promise<PublishResult> {
    return inSpan('herald.publish', {}, async (span) => this.pipeline(body, target, fieldPrefix, span));
  }

  /**
   * Checks and publishes: synchronous up to the store or fan-out (a refusal is thrown), then the
   * result itself when those were synchronous too (`publishNow`), else a promise of it.
   */
  private pipeline(body: PublishBody, target: ResolvedTarget, fieldPrefix: string, span: Span): PublishResult | Promise<PublishResult> {
    const userTarget = target.kind === 'user' || target.kind === 'device' || target.kind === 'users';
    const reliable = body.reliable ?? userTarget;
    if (reliable && !userTarget) {
      throw new ApiError('invalid_field', `${fieldPrefix}reliable: reliable delivery is for user targets; rooms, tenants and broadcasts are ephemeral`, fieldPrefix + 'reliable');
    }
    const shedSec = reliable ? 0 : (this.refuseEphemeral?.() ?? 0);
    if (shedSec > 0) {
      this.limiter?.reject('shed_publishes');
      const err = new ApiError('overloaded', `node is shedding load: ephemeral publishes are refused; retry in ${shedSec} s (reliable publishes still flow)`);
      err.retryAfterSec = shedSec;
      throw err;
    }
    const { data, binary, bytes, field } = payloadOf(body, this.s.maxMessageBytes);
    if (bytes > this.s.maxMessageBytes) {
      throw new ApiError('payload_too_large', `${fieldPrefix}${field}: ${bytes} bytes, over the limit of ${this.s.maxMessageBytes}`, fieldPrefix + field);
    }
    const notifyAfter = body.notify_unacked_after;
    if (notifyAfter !== undefined) {
      const max = this.s.notifyUnackedMaxSec ?? 86_400;
      if (!reliable) throw new ApiError('invalid_field', `${fieldPrefix}notify_unacked_after: only reliable messages are acked`, fieldPrefix + 'notify_unacked_after');
      if (notifyAfter > max) throw new ApiError('invalid_field', `${fieldPrefix}notify_unacked_after: at most ${max} seconds`, fieldPrefix + 'notify_unacked_after');
    }
    if (reliable && !this.engine.isReady()) throw new ApiError('engine_unavailable');
    const id = randomMessageId();
    const ts = Date.now();
    this.stats.bump(this.stats.published, publishedKey(target.kind, reliable));
    const result: PublishResult = { id };
    if (span.isRecording()) span.setAttributes({ 'herald.message_id': id, 'herald.target': target.kind, 'herald.reliable': reliable, 'herald.routes': target.routes.length });
    const routes = target.routes;
    const engine = this.engine as Engine & SyncAppend & SyncOnlineCount;

    if (reliable) {
      const m: Omit<NewInboxMessage, 'device' | 'platform'> = { id, ts, data };
      if (binary) m.binary = true;
      if (body.event !== undefined) m.event = body.event;
      if (body.ttl !== undefined) m.expiresAt = ts + body.ttl * 1000;
      // One user, no key, no unacked deadline, an engine that stores and counts synchronously:
      // stored, offered and counted here, without a promise (issue 20; the same steps as storeFor).
      if (routes.length === 1 && body.idempotency_key === undefined && notifyAfter === undefined && engine.appendNow !== undefined && engine.onlineCountNow !== undefined && !span.isRecording()) {
        const route = routes[0]!;
        const seq: Record<string, number> = Object.create(null) as Record<string, number>;
        if (route.kind === 'user') {
          let stored: StoredMessage;
          try {
            stored = engine.appendNow(route.tenant, route.user, forRoute(route, m), this.hub.settings.retention);
          } catch (err) {
            throw storeError(err); // as store() maps a rejection
          }
          seq[route.user] = stored.seq;
          this.hub.deliverInbox(route.tenant, route.user, stored);
        }
        result.seq = seq;
        return this.countedNow(engine, route, result);
      }
      return this.stored(body, routes, m, notifyAfter, result, span);
    }
    const em: EphemeralMessage = { id, ts, data };
    if (binary) em.binary = true;
    if (body.event !== undefined) em.event = body.event;
    const frame = messageFrame('room' in body.to ? withRoom(em, body.to.room) : em);
    // One route (unicast) on a bus that hands over synchronously, outside the room publisher,
    // nothing recording: written, handed over and counted here, without a promise (issue 20).
    if (routes.length === 1 && engine.onlineCountNow !== undefined && !span.isRecording()) {
      const route = routes[0]!;
      if (!(route.kind === 'room' && this.rooms) && this.hub.broadcastNow(route, frame, em.ts) !== undefined) return this.countedNow(engine, route, result);
    }
    return this.fannedOut(routes, em, frame, result, span);
  }

  /** The online count read synchronously into the result; one that cannot be read is left out, as `counted` does. */
  private countedNow(engine: Engine & SyncOnlineCount, route: Route, result: PublishResult): PublishResult {
    let online: number | undefined;
    try {
      online = engine.onlineCountNow!(route);
    } catch {
      online = undefined;
    }
    if (online !== undefined) result.online = online;
    return result;
  }

  /** The reliable tail: every user's store (concurrently), then the online count. */
  private async stored(body: PublishBody, routes: readonly Route[], m: Omit<NewInboxMessage, 'device' | 'platform'>, notifyAfter: number | undefined, result: PublishResult, span: Span): Promise<PublishResult> {
    // Null prototype: user ids are untrusted keys (`__proto__` must be an entry, not a prototype write).
    const seq: Record<string, number> = Object.create(null) as Record<string, number>;
    // Users are independent: store them concurrently. Each append is atomic, and with an
    // idempotency key it is once-only per user: a retry after a crash between store and the
    // recorded result finds the message stored and stores nothing (docs/delivery.md).
    const once = body.idempotency_key !== undefined ? { key: body.idempotency_key, ttlMs: this.s.idempotencyTtlMs } : undefined;
    const stores: StoreRun = { seq, firstId: undefined };
    // One user (the common case) without an array of promises; inSpan calls straight through without an SDK.
    await inSpan<unknown>('herald.store', { 'herald.users': routes.length }, () =>
      routes.length === 1 ? this.storeFor(routes[0]!, m, once, notifyAfter, stores) : Promise.all(routes.map((route) => this.storeFor(route, m, once, notifyAfter, stores))),
    );
    result.seq = seq;
    // The id the first attempt returned, when it had stored the message already.
    if (stores.firstId !== undefined) result.id = stores.firstId;
    return this.counted(routes, result, span);
  }

  /** The ephemeral tail: every route's fan-out (one `herald.fanout` span), then the online count. */
  private async fannedOut(routes: readonly Route[], em: EphemeralMessage, frame: string, result: PublishResult, span: Span): Promise<PublishResult> {
    await inSpan('herald.fanout', { 'herald.routes': routes.length }, (fan) => this.fanOutAll(routes, em, frame, result, fan));
    return this.counted(routes, result, span);
  }

  /**
   * The message is stored and sent: from here nothing may turn it into a failure (a retrying
   * producer would store it twice). A count that cannot be read is left out of the reply.
   */
  private async counted(routes: readonly Route[], result: PublishResult, span: Span): Promise<PublishResult> {
    let online: number | undefined;
    try {
      online = routes.length === 1 ? await this.engine.onlineCount(routes[0]!) : await this.onlineSum(routes);
    } catch {
      online = undefined;
    }
    if (online !== undefined) {
      result.online = online;
      if (span.isRecording()) span.setAttribute('herald.online', online);
    }
    return result;
  }

  /** Stores the message in one user's inbox and offers it to their local devices. */
  private async storeFor(route: Route, m: Omit<NewInboxMessage, 'device' | 'platform'>, once: AppendOnce | undefined, notifyAfter: number | undefined, run: StoreRun): Promise<void> {
    if (route.kind !== 'user') return;
    const stored = await this.store(route.tenant, route.user, forRoute(route, m), this.hub.settings.retention, once);
    run.seq[route.user] = stored.seq;
    if (stored.duplicate) run.firstId = stored.id;
    // A duplicate was offered when it was first stored (and is in the inbox for every device);
    // its unacked deadline was set then too.
    else {
      this.hub.deliverInbox(route.tenant, route.user, stored);
      if (notifyAfter !== undefined && this.watchUnacked) await this.watchUnacked(route.tenant, route.user, stored, notifyAfter);
    }
  }

  /** Every route of an ephemeral publish (one `herald.fanout` span): the local count. */
  private fanOutAll(routes: readonly Route[], em: EphemeralMessage, frame: string, result: PublishResult, fan: Span): Promise<number> {
    // One route (unicast) without a tracing SDK: the hub's promise as is, no async layer.
    if (routes.length === 1 && !fan.isRecording()) return this.fanOut(routes[0]!, em, frame, result);
    return this.fanOutMany(routes, em, frame, result, fan);
  }

  private async fanOutMany(routes: readonly Route[], em: EphemeralMessage, frame: string, result: PublishResult, fan: Span): Promise<number> {
    let local = 0;
    await Promise.all(routes.map(async (route) => void (local += await this.fanOut(route, em, frame, result))));
    // Per-recipient spans would cost one span per socket: the local write is one event.
    if (fan.isRecording()) fan.addEvent('herald.deliver', { 'herald.local_recipients': local });
    return local;
  }

  /** One route of an ephemeral publish: rooms with history go through the room publisher. Returns the local count. */
  private fanOut(route: Route, em: EphemeralMessage, frame: string, result: PublishResult): Promise<number> {
    // Not async: the hub's promise is returned as is (broadcast is async, so it cannot throw synchronously).
    if (route.kind === 'room' && this.rooms) return roomFanOut(this.rooms, route, em, result);
    return this.hub.broadcast(route, frame, em.ts);
  }

  /** Connections several routes reach now (rejects when the engine cannot say). */
  private async onlineSum(routes: readonly Route[]): Promise<number> {
    const counts = await Promise.all(routes.map((r) => this.engine.onlineCount(r)));
    return counts.reduce((a, b) => a + b, 0);
  }
}

/** The message as one user route stores it: its device and platform, when the route names them. */
function forRoute(route: Route & { kind: 'user' }, m: Omit<NewInboxMessage, 'device' | 'platform'>): NewInboxMessage {
  if (route.device === undefined && route.platform === undefined) return m;
  const msg: NewInboxMessage = { ...m };
  if (route.device !== undefined) msg.device = route.device;
  if (route.platform !== undefined) msg.platform = route.platform;
  return msg;
}

/**
 * An engine that stores a message without an idempotency key, or counts a route's connections,
 * when the call returns (the memory engine): the publish path calls these instead of `append`
 * and `onlineCount`, so a publish costs no promise for them (issue 20). They must do exactly
 * what the promise-returning calls would, throwing what those would reject with.
 */
export interface SyncAppend {
  appendNow?(tenant: string, user: string, message: NewInboxMessage, retention: Retention): StoredMessage;
}
export interface SyncOnlineCount {
  onlineCountNow?(route: Route): number;
}

/** What a failed append becomes: a coded refusal (storage_full: nothing was stored) as is, anything else 503. */
function storeError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  return new ApiError('engine_unavailable', `message not stored: ${(err as Error).message}`);
}

function throwStoreError(err: unknown): never {
  throw storeError(err);
}

/**
 * The per-tenant API rate (HTTP API publishes) and the event table (API and ingest alike; ingest
 * retries an entry refused with 429: streamIngest.ts, transient). Throws the refusal; synchronous
 * (undefined) unless the engine shares the buckets, then a promise of the same checks in order.
 */
function checkLimits(limiter: Limiter, parsed: PublishBody, routes: readonly Route[], fieldPrefix: string, rateLimited: boolean): Promise<void> | undefined {
  const tenant = routes[0]!.kind === 'all' ? '*' : (routes[0] as { tenant: string }).tenant;
  if (rateLimited) {
    const pending = limiter.apiPublish(tenant, routes.length);
    if (typeof pending !== 'number') return pending.then((waitMs) => (apiPublishAllowed(tenant, waitMs), checkEvent(limiter, tenant, parsed.event, routes.length, fieldPrefix)));
    apiPublishAllowed(tenant, pending);
  }
  return checkEvent(limiter, tenant, parsed.event, routes.length, fieldPrefix);
}

function apiPublishAllowed(tenant: string, waitMs: number): void {
  if (waitMs <= 0) return;
  const err = new ApiError('rate_limited', `publish rate limit of tenant "${tenant}" exceeded; retry in ${waitMs} ms`);
  err.retryAfterSec = Math.ceil(waitMs / 1000);
  throw err;
}

function checkEvent(limiter: Limiter, tenant: string, event: string | undefined, cost: number, fieldPrefix: string): Promise<void> | undefined {
  if (event === undefined) return undefined;
  const pending = limiter.apiEvent(tenant, event, cost);
  if (pending instanceof Promise) return pending.then((refused) => eventAllowed(tenant, refused, fieldPrefix));
  eventAllowed(tenant, pending, fieldPrefix);
  return undefined;
}

function eventAllowed(tenant: string, refused: EventRefusal | undefined, fieldPrefix: string): void {
  if (!refused) return;
  const err = new ApiError('rate_limited', `event rate limit "${refused.pattern}" (eventRateLimits, limit ${refused.limit}) of tenant "${tenant}" exceeded; retry in ${refused.waitMs} ms`, fieldPrefix + 'event');
  err.retryAfterSec = Math.ceil(refused.waitMs / 1000);
  throw err;
}

/** A room route through the room publisher (history, offsets): its local count. */
async function roomFanOut(rooms: RoomPublisher, route: Route & { kind: 'room' }, em: EphemeralMessage, result: PublishResult): Promise<number> {
  const r = await rooms.publish(route, em).catch((err: unknown) => {
    throw new ApiError('engine_unavailable', `room message not stored: ${(err as Error).message}`);
  });
  if (r.offset !== undefined) Object.assign(result, { offset: r.offset, epoch: r.epoch });
  return r.local;
}

/** What the stores of one reliable publish collect. */
interface StoreRun {
  seq: Record<string, number>;
  firstId: string | undefined;
}

/** `herald_messages_published_total` keys, built once rather than per publish. */
const PUBLISHED_KEYS = new Map<string, readonly [string, string]>();
function publishedKey(kind: ResolvedTarget['kind'], reliable: boolean): string {
  let k = PUBLISHED_KEYS.get(kind);
  if (!k) PUBLISHED_KEYS.set(kind, (k = [`${kind}|false`, `${kind}|true`]));
  return k[reliable ? 1 : 0];
}
