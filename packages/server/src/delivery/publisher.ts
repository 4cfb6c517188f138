/**
 * The publish pipeline shared by the HTTP API, batch publishes and stream
 * ingest: validate → idempotency → store (reliable) → deliver locally →
 * hand to the engine for the other nodes.
 */
import { randomUUID } from 'node:crypto';
import type { Engine, InboxMessage, StoredMessage } from '../engine/types.js';
import type { DeliveryHub } from './hub.js';
import type { Stats } from '../observability/stats.js';
import { ApiError } from '../errors.js';
import type { Limiter } from '../limits/limiter.js';
import { messageFrame } from '../protocol/serverFrames.js';
import { parsePublish, resolveTarget, type PublishBody } from './publishRequest.js';
import { inSpan, type Span } from '../observability/tracing.js';
import { withIdempotency } from './idempotency.js';
import { payloadOf } from './payload.js';
import type { RoomPublisher } from '../rooms/roomPublish.js';

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
  async publishUnknown(body: unknown, fieldPrefix = '', rateLimited = false): Promise<PublishResult> {
    const parsed = parsePublish(body, fieldPrefix);
    if (rateLimited && this.limiter) {
      const routes = resolveTarget(parsed.to).routes;
      const tenant = routes[0]!.kind === 'all' ? '*' : (routes[0] as { tenant: string }).tenant;
      const waitMs = await this.limiter.apiPublish(tenant, routes.length);
      if (waitMs > 0) {
        const err = new ApiError('rate_limited', `publish rate limit of tenant "${tenant}" exceeded; retry in ${waitMs} ms`);
        err.retryAfterSec = Math.ceil(waitMs / 1000);
        throw err;
      }
    }
    // The event table (eventRateLimits) holds for API and ingest publishes alike; ingest
    // retries an entry refused with 429 (streamIngest.ts: transient).
    if (this.limiter && parsed.event !== undefined) {
      const routes = resolveTarget(parsed.to).routes;
      const tenant = routes[0]!.kind === 'all' ? '*' : (routes[0] as { tenant: string }).tenant;
      const refused = await this.limiter.apiEvent(tenant, parsed.event, routes.length);
      if (refused) {
        const err = new ApiError('rate_limited', `event rate limit "${refused.pattern}" (eventRateLimits, limit ${refused.limit}) of tenant "${tenant}" exceeded; retry in ${refused.waitMs} ms`, fieldPrefix + 'event');
        err.retryAfterSec = Math.ceil(refused.waitMs / 1000);
        throw err;
      }
    }
    return this.publish(parsed, fieldPrefix);
  }

  async publish(body: PublishBody, fieldPrefix = ''): Promise<PublishResult> {
    const key = body.idempotency_key;
    if (key === undefined) return this.run(body, fieldPrefix);
    const settings = { ttlMs: this.s.idempotencyTtlMs, leaseMs: this.s.idempotencyLeaseMs ?? DEFAULT_IDEMPOTENCY_LEASE_MS };
    return (await withIdempotency(this.engine, key, settings, () => this.run(body, fieldPrefix))) as PublishResult;
  }

  /** Appends to the inbox; an engine failure becomes 503 so nothing unstored is ever acknowledged. */
  private async store(...args: Parameters<Engine['append']>): Promise<StoredMessage> {
    try {
      return await this.engine.append(...args);
    } catch (err) {
      if (err instanceof ApiError) throw err; // a coded refusal (storage_full): nothing was stored
      throw new ApiError('engine_unavailable', `message not stored: ${(err as Error).message}`);
    }
  }

  /** Traced (no-op without an OpenTelemetry SDK): herald.publish → herald.store | herald.fanout. */
  private run(body: PublishBody, fieldPrefix: string): Promise<PublishResult> {
    return inSpan('herald.publish', {}, (span) => this.pipeline(body, fieldPrefix, span));
  }

  private async pipeline(body: PublishBody, fieldPrefix: string, span: Span): Promise<PublishResult> {
    const target = resolveTarget(body.to);
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
    const { data, binary, bytes, field } = payloadOf(body);
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
    const id = randomUUID();
    const ts = Date.now();
    this.stats.bump(this.stats.published, `${target.kind}|${reliable}`);
    const result: PublishResult = { id };
    if (span.isRecording()) span.setAttributes({ 'herald.message_id': id, 'herald.target': target.kind, 'herald.reliable': reliable, 'herald.routes': target.routes.length });

    if (reliable) {
      // Null prototype: user ids are untrusted keys (`__proto__` must be an entry, not a prototype write).
      const seq: Record<string, number> = Object.create(null) as Record<string, number>;
      const expiresAt = body.ttl !== undefined ? ts + body.ttl * 1000 : undefined;
      // Users are independent: store them concurrently. Each append is atomic, and with an
      // idempotency key it is once-only per user: a retry after a crash between store and the
      // recorded result finds the message stored and stores nothing (docs/delivery.md).
      const once = body.idempotency_key !== undefined ? { key: body.idempotency_key, ttlMs: this.s.idempotencyTtlMs } : undefined;
      let firstId: string | undefined;
      await inSpan('herald.store', { 'herald.users': target.routes.length }, () =>
        Promise.all(
          target.routes.map(async (route) => {
            if (route.kind !== 'user') return;
            const stored = await this.store(
              route.tenant,
              route.user,
              { id, ts, data, ...(binary ? { binary } : {}), ...(route.device !== undefined ? { device: route.device } : {}), ...(route.platform !== undefined ? { platform: route.platform } : {}), ...(body.event !== undefined ? { event: body.event } : {}), ...(expiresAt !== undefined ? { expiresAt } : {}) },
              this.hub.settings.retention,
              once,
            );
            seq[route.user] = stored.seq;
            if (stored.duplicate) firstId = stored.id;
            // A duplicate was offered when it was first stored (and is in the inbox for every device);
            // its unacked deadline was set then too.
            else {
              this.hub.deliverInbox(route.tenant, route.user, stored);
              if (notifyAfter !== undefined && this.watchUnacked) await this.watchUnacked(route.tenant, route.user, stored, notifyAfter);
            }
          }),
        ),
      );
      result.seq = seq;
      // The id the first attempt returned, when it had stored the message already.
      if (firstId !== undefined) result.id = firstId;
    } else {
      const frame = messageFrame({ id, ts, data, ...(binary ? { binary } : {}), ...(body.event !== undefined ? { event: body.event } : {}), ...('room' in body.to ? { room: body.to.room } : {}) });
      await inSpan('herald.fanout', { 'herald.routes': target.routes.length }, async (fan) => {
        let local = 0;
        await Promise.all(
          target.routes.map(async (route) => {
            if (route.kind === 'room' && this.rooms) {
              const r = await this.rooms.publish(route, { id, ts, data, ...(binary ? { binary } : {}), ...(body.event !== undefined ? { event: body.event } : {}) }).catch((err: unknown) => {
                throw new ApiError('engine_unavailable', `room message not stored: ${(err as Error).message}`);
              });
              local += r.local;
              if (r.offset !== undefined) Object.assign(result, { offset: r.offset, epoch: r.epoch });
            } else local += await this.hub.broadcast(route, frame, ts);
          }),
        );
        // Per-recipient spans would cost one span per socket: the local write is one event.
        if (fan.isRecording()) fan.addEvent('herald.deliver', { 'herald.local_recipients': local });
      });
    }
    // The message is stored and sent: from here nothing may turn it into a failure (a retrying
    // producer would store it twice). A count that cannot be read is left out of the reply.
    const online = await this.onlineCount(target.routes);
    if (online !== undefined) {
      result.online = online;
      if (span.isRecording()) span.setAttribute('herald.online', online);
    }
    return result;
  }

  /** Connections the routes reach now, or undefined when the engine cannot say. */
  private async onlineCount(routes: ReturnType<typeof resolveTarget>['routes']): Promise<number | undefined> {
    try {
      const counts = await Promise.all(routes.map((r) => this.engine.onlineCount(r)));
      return counts.reduce((a, b) => a + b, 0);
    } catch {
      return undefined;
    }
  }
}
