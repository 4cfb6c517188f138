/**
 * The publish pipeline shared by the HTTP API, batch publishes and stream
 * ingest: validate → idempotency → store (reliable) → deliver locally →
 * hand to the engine for the other nodes.
 */
import { randomUUID } from 'node:crypto';
import type { Engine, InboxMessage } from '../engine/types.js';
import type { Gateway } from '../gateway/gateway.js';
import type { Stats } from '../observability/stats.js';
import { HeraldError } from '../errors.js';
import { messageFrame } from '../protocol/serverFrames.js';
import { parsePublish, resolveTarget, type PublishBody } from './publishRequest.js';

export interface PublishResult {
  id: string;
  /** Per-user seq of reliable messages. */
  seq?: Record<string, number>;
  /** Connections the message reached (online now), across the cluster. */
  online: number;
}

export interface PublisherSettings {
  maxMessageBytes: number;
  idempotencyTtlMs: number;
}

export class Publisher {
  constructor(
    private readonly engine: Engine,
    private readonly gw: Gateway,
    private readonly stats: Stats,
    private readonly s: PublisherSettings,
  ) {}

  /** Validates and publishes an untrusted body. `field` prefixes error field names (batch items). */
  async publishUnknown(body: unknown, fieldPrefix = ''): Promise<PublishResult> {
    return this.publish(parsePublish(body, fieldPrefix), fieldPrefix);
  }

  async publish(body: PublishBody, fieldPrefix = ''): Promise<PublishResult> {
    const key = body.idempotency_key;
    if (key === undefined) return this.run(body, fieldPrefix);
    const claim = await this.engine.idempotencyClaim(key, this.s.idempotencyTtlMs);
    if (claim.state === 'done') return JSON.parse(claim.result) as PublishResult;
    if (claim.state === 'pending') throw new HeraldError('idempotency_in_progress');
    try {
      const result = await this.run(body, fieldPrefix);
      await this.engine.idempotencyComplete(key, JSON.stringify(result), this.s.idempotencyTtlMs);
      return result;
    } catch (err) {
      await this.engine.idempotencyRelease(key).catch(() => undefined);
      throw err;
    }
  }

  /** Appends to the inbox; an engine failure becomes 503 so nothing unstored is ever acknowledged. */
  private async store(...args: Parameters<Engine['append']>): Promise<InboxMessage> {
    try {
      return await this.engine.append(...args);
    } catch (err) {
      throw new HeraldError('engine_unavailable', `message not stored: ${(err as Error).message}`);
    }
  }

  private async run(body: PublishBody, fieldPrefix: string): Promise<PublishResult> {
    const target = resolveTarget(body.to);
    const userTarget = target.kind === 'user' || target.kind === 'device' || target.kind === 'users';
    const reliable = body.reliable ?? userTarget;
    if (reliable && !userTarget) {
      throw new HeraldError('invalid_field', `${fieldPrefix}reliable: reliable delivery is for user targets; rooms, tenants and broadcasts are ephemeral`, fieldPrefix + 'reliable');
    }
    const data = JSON.stringify(body.data);
    if (Buffer.byteLength(data) > this.s.maxMessageBytes) {
      throw new HeraldError('payload_too_large', `${fieldPrefix}data: ${Buffer.byteLength(data)} bytes, over the limit of ${this.s.maxMessageBytes}`, fieldPrefix + 'data');
    }
    if (reliable && !this.engine.isReady()) throw new HeraldError('engine_unavailable');
    const id = randomUUID();
    const ts = Date.now();
    this.stats.bump(this.stats.published, `${target.kind}|${reliable}`);
    const result: PublishResult = { id, online: 0 };

    if (reliable) {
      const seq: Record<string, number> = {};
      const expiresAt = body.ttl !== undefined ? ts + body.ttl * 1000 : undefined;
      // Users are independent: store them concurrently. Each append is atomic.
      await Promise.all(
        target.routes.map(async (route) => {
          if (route.kind !== 'user') return;
          const stored = await this.store(
            route.tenant,
            route.user,
            { id, ts, data, ...(route.device !== undefined ? { device: route.device } : {}), ...(body.event !== undefined ? { event: body.event } : {}), ...(expiresAt !== undefined ? { expiresAt } : {}) },
            this.gw.settings.retention,
          );
          seq[route.user] = stored.seq;
          this.gw.deliverInbox(route.tenant, route.user, stored);
        }),
      );
      result.seq = seq;
    } else {
      const frame = messageFrame({ id, ts, data, ...(body.event !== undefined ? { event: body.event } : {}), ...('room' in body.to ? { room: body.to.room } : {}) });
      await Promise.all(
        target.routes.map(async (route) => {
          this.gw.deliverLocal(route, frame, ts);
          await this.engine.publish({ kind: 'deliver', route, frame });
        }),
      );
    }
    const counts = await Promise.all(target.routes.map((r) => this.engine.onlineCount(r)));
    result.online = counts.reduce((a, b) => a + b, 0);
    return result;
  }
}
