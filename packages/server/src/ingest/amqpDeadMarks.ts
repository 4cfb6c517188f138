/**
 * Records of RabbitMQ entries already dead-lettered (docs/ingest.md#rabbitmq).
 *
 * The source publishes a dead letter, waits for the broker's confirm, then acks
 * the original; publish and ack cannot be one atomic step (AMQP transactions are
 * not offered on a confirm channel). A connection lost between the two redelivers
 * the original, which would be dead-lettered again. So after the confirm and
 * before the ack the source writes a mark here, and a redelivered entry that is
 * marked is only acked. With the redis engine the marks live in Redis (shared by
 * every node, survive a node crash); with the memory engine (one process) in memory.
 */
import { createHash } from 'node:crypto';
import type { ConsumeMessage } from 'amqplib';
import type { Logger } from '../observability/logger.js';
import { closeClient, connectClient, createClient, type RedisClient } from '../redis/connect.js';

export interface AmqpDeadMarks {
  /** True when `key` was marked within the TTL. */
  has(key: string): Promise<boolean>;
  mark(key: string): Promise<void>;
  close?(): Promise<void>;
}

/** Default life of a mark: 7 days, longer than an entry waits in a queue unacked in any sane deployment. */
export const DEAD_MARK_TTL_MS = 7 * 24 * 3600_000;
/** Memory marks held at most (oldest dropped first): memory stays bounded under a flood of poison entries. */
export const DEAD_MARK_MEMORY_MAX = 100_000;

/**
 * The entry's identity: its message_id, else a sha256 of body and headers (two
 * byte-identical entries without message_id are one entry to this check).
 */
export function deadMarkKey(queue: string, msg: ConsumeMessage): string {
  const id = msg.properties.messageId as unknown;
  if (typeof id === 'string' && id !== '') return `amqp-dead:${queue}:id:${id}`;
  const h = createHash('sha256').update(msg.content).update('\0').update(JSON.stringify(msg.properties.headers ?? {}));
  return `amqp-dead:${queue}:sha256:${h.digest('hex')}`;
}

export class MemoryDeadMarks implements AmqpDeadMarks {
  /** key → expiry (ms since epoch), in insertion order. */
  private readonly marks = new Map<string, number>();

  constructor(
    private readonly ttlMs = DEAD_MARK_TTL_MS,
    private readonly maxEntries = DEAD_MARK_MEMORY_MAX,
  ) {}

  has(key: string): Promise<boolean> {
    const exp = this.marks.get(key);
    if (exp !== undefined && exp <= Date.now()) this.marks.delete(key);
    return Promise.resolve(exp !== undefined && exp > Date.now());
  }

  mark(key: string): Promise<void> {
    this.marks.delete(key);
    this.marks.set(key, Date.now() + this.ttlMs);
    while (this.marks.size > this.maxEntries) this.marks.delete(this.marks.keys().next().value!);
    return Promise.resolve();
  }

  get size(): number {
    return this.marks.size;
  }
}

/** Marks as Redis keys `<prefix><key>` with a TTL (SET PX): one round trip each, bounded by the client's command timeout. */
export class RedisDeadMarks implements AmqpDeadMarks {
  private connecting: Promise<void> | undefined;

  constructor(
    private readonly client: RedisClient,
    private readonly prefix: string,
    private readonly timeoutMs: number,
    private readonly ttlMs = DEAD_MARK_TTL_MS,
    /** False when the caller owns the client (close() leaves it open). */
    private readonly owned = true,
  ) {}

  static fromUrl(url: string, prefix: string, timeoutMs: number, nodeId: string, logger: Logger): RedisDeadMarks {
    return new RedisDeadMarks(createClient(url, { name: `herald:${nodeId}:amqp-dead`, logger, commandTimeoutMs: timeoutMs }), prefix, timeoutMs);
  }

  /** The first call connects; ioredis reconnects by itself afterwards. */
  private ready(): Promise<void> {
    if (!this.owned) return Promise.resolve();
    // A failed first connect left the client ended: start it again (connectClient only starts a fresh one).
    if (this.connecting === undefined && this.client.status === 'end') this.client.connect().catch(() => undefined);
    this.connecting ??= connectClient(this.client, this.timeoutMs, 'amqp dead-letter marks').catch((err: unknown) => {
      this.connecting = undefined;
      throw err;
    });
    return this.connecting;
  }

  async has(key: string): Promise<boolean> {
    await this.ready();
    return (await this.client.exists(this.prefix + key)) === 1;
  }

  async mark(key: string): Promise<void> {
    await this.ready();
    await this.client.set(this.prefix + key, '1', 'PX', this.ttlMs);
  }

  async close(): Promise<void> {
    if (this.owned) await closeClient(this.client);
  }
}
