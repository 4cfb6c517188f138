/**
 * Message-queue ingest (DESIGN.md §1, docs/scaling.md): business backends
 * XADD publish bodies to a Redis stream (`<prefix>ingest`, field `payload`);
 * every Herald node reads it in consumer group `herald` under its node id, so
 * each entry goes to exactly one node.
 *
 * Delivery rules:
 * - An entry is XACKed only after the handler (the publish pipeline) resolved:
 *   stored and dispatched. A node that dies holding entries leaves them in
 *   the group's pending list; after `claimIdleMs` another node (or this one,
 *   restarted) takes them over with XAUTOCLAIM.
 * - Poison goes to the dead-letter stream, then is acked: payload not JSON,
 *   no payload field, or rejected by the handler with a 4xx status.
 *   409 (idempotency key in progress) and 429 (rate limited) are not poison:
 *   they pass. Any other error is transient: the entry stays pending and is
 *   retried after `claimIdleMs`; after `maxDeliveries` it is dead-lettered.
 * - Entries of one node are handled one at a time, in stream order.
 *
 * Exactly once holds while nodes stay up and handlers finish within
 * `claimIdleMs`; a crash after the handler but before XACK replays the entry
 * on another node (at least once). The handler receives the entry id so the
 * node can make that replay idempotent.
 */
import type { Cluster, Redis } from 'ioredis';
import type { Logger } from '../observability/logger.js';
import { wakeablePause } from '../runtime/timeouts.js';
import { closeClient, connectClient, createClient, parseRedisUrl, type ParsedRedisUrl, type RedisClient } from '../redis/connect.js';
import { DeadLetters } from './deadLetter.js';
import { classifyIngestFailure } from './source.js';

export interface IngestEntry {
  /** Stream entry id, e.g. `1700000000000-0`. */
  id: string;
  /** Times the group delivered the entry (1 on the first delivery). */
  deliveries: number;
}

/** Publishes one body. Throws an error with numeric `status` < 500 for a bad body (poison). */
export type IngestHandler = (body: unknown, entry: IngestEntry) => Promise<void>;

export interface StreamIngestOptions {
  url: string;
  /** Stream key; default `${keyPrefix}ingest`. */
  stream?: string;
  keyPrefix?: string;
  /** Dead-letter stream; default `${stream}:dead`. */
  deadStream?: string;
  group?: string;
  /** Consumer name: the node id. */
  consumer: string;
  handler: IngestHandler;
  logger: Logger;
  /** XREADGROUP BLOCK time; also the longest stop() waits on Cluster, where a block cannot be interrupted. */
  blockMs?: number;
  /** Entries per read. */
  batchSize?: number;
  /** Pending entries idle this long belong to a dead (or stuck) consumer and are claimed. */
  claimIdleMs?: number;
  /** How often to look for such entries. */
  claimIntervalMs?: number;
  /** Deliveries after which an entry is dead-lettered. */
  maxDeliveries?: number;
  deadMaxLen?: number;
  connectTimeoutMs?: number;
  /**
   * Consumers (old node ids) idle this long with nothing pending are deleted from the group, so
   * restarts under new default node ids do not pile up consumers for ever.
   */
  consumerRetireMs?: number;
}

type StreamEntry = [id: string, fields: string[]];

export class StreamIngest {
  readonly stream: string;
  readonly group: string;
  private readonly o: Required<Omit<StreamIngestOptions, 'stream' | 'keyPrefix' | 'deadStream' | 'group'>>;
  private readonly parsed: ParsedRedisUrl;
  private readonly cmd: RedisClient;
  private readonly blocking: RedisClient;
  private readonly dead: DeadLetters;
  private readonly log: Logger;
  private loop: Promise<void> | undefined;
  private stopping = false;
  private destroyed = false;
  private wake: (() => void) | undefined;
  private blockingId: number | undefined;
  private inBlock = false;
  private lastClaim = 0;
  private lastRetire = 0;
  /** Handled and acked entries (for metrics and tests). */
  handled = 0;
  deadLettered = 0;
  /** Entries handled on a second or later delivery (taken over, or retried after a failure). */
  redelivered = 0;
  /** The last read or handler error (cleared by the next good read), for /readyz and the admin page. */
  lastError: string | undefined;

  constructor(opts: StreamIngestOptions) {
    this.stream = opts.stream ?? `${opts.keyPrefix ?? 'herald:'}ingest`;
    this.group = opts.group ?? 'herald';
    this.o = {
      url: opts.url,
      consumer: opts.consumer,
      handler: opts.handler,
      logger: opts.logger,
      blockMs: opts.blockMs ?? 2_000,
      batchSize: opts.batchSize ?? 32,
      claimIdleMs: opts.claimIdleMs ?? 30_000,
      claimIntervalMs: opts.claimIntervalMs ?? Math.max(100, Math.min(5_000, Math.floor((opts.claimIdleMs ?? 30_000) / 2))),
      maxDeliveries: opts.maxDeliveries ?? 10,
      deadMaxLen: opts.deadMaxLen ?? 100_000,
      connectTimeoutMs: opts.connectTimeoutMs ?? 10_000,
      consumerRetireMs: opts.consumerRetireMs ?? 3_600_000,
    };
    this.log = opts.logger.child({ component: 'ingest', stream: this.stream });
    this.parsed = parseRedisUrl(opts.url);
    this.cmd = createClient(this.parsed, { name: `herald:${opts.consumer}:ingest`, logger: this.log, commandTimeoutMs: 10_000 });
    // No command timeout here: XREADGROUP BLOCK legitimately waits.
    this.blocking = createClient(this.parsed, { name: `herald:${opts.consumer}:ingest-block`, logger: this.log });
    this.dead = new DeadLetters(this.cmd, opts.deadStream ?? `${this.stream}:dead`, this.o.deadMaxLen);
  }

  get deadStream(): string {
    return this.dead.stream;
  }

  /** Both connections are up. */
  get connected(): boolean {
    return this.cmd.status === 'ready' && this.blocking.status === 'ready';
  }

  async start(): Promise<void> {
    if (this.loop) throw new Error('ingest started twice');
    if (this.parsed.mode !== 'cluster') {
      // Remembered per connection so that stop() can end a BLOCK at once with CLIENT UNBLOCK.
      this.blocking.on('ready', () => {
        (this.blocking as Redis).client('ID').then(
          (id) => (this.blockingId = Number(id)),
          () => (this.blockingId = undefined),
        );
      });
    }
    await Promise.all([
      connectClient(this.cmd, this.o.connectTimeoutMs, 'stream ingest'),
      connectClient(this.blocking, this.o.connectTimeoutMs, 'stream ingest (blocking)'),
    ]);
    await this.ensureGroup();
    this.loop = this.run();
    this.log.info({ group: this.group, consumer: this.o.consumer }, 'stream ingest started');
  }

  /** Stops reading; the entry being handled finishes (and is acked) first. */
  async stop(): Promise<void> {
    if (this.destroyed) return;
    if (this.stopping) return this.loop;
    this.stopping = true;
    this.wake?.();
    if (this.inBlock && this.blockingId !== undefined && this.cmd.status === 'ready') {
      await (this.cmd as Redis).client('UNBLOCK', this.blockingId).catch(() => {});
    }
    await this.loop;
    await Promise.all([closeClient(this.blocking), closeClient(this.cmd)]);
  }

  /** Drops both connections at once, finishing nothing: what a crash looks like to the group. */
  destroy(): void {
    this.destroyed = true;
    this.stopping = true;
    this.wake?.();
    this.blocking.disconnect();
    this.cmd.disconnect();
  }

  /**
   * Metrics (fields of EngineStats): entries pending (delivered, not acked) in the group, backlog
   * (not yet delivered), age of the oldest entry not yet acked, and dead letters written by this node.
   */
  async stats(): Promise<{ ingestPending: number; ingestBacklog: number; ingestLagSeconds: number; ingestDeadLettered: number }> {
    const [groups, summary] = await Promise.all([
      this.cmd.xinfo('GROUPS', this.stream) as Promise<(string | number)[][]>,
      this.cmd.xpending(this.stream, this.group) as Promise<[number, string | null, string | null, unknown]>,
    ]);
    const g = groups.map(toRecord).find((r) => r.name === this.group) ?? {};
    const pending = Number(g.pending ?? summary[0] ?? 0);
    const backlog = Number(g.lag ?? 0);
    let oldest: number | undefined = summary[1] ? idTime(summary[1]) : undefined;
    if (backlog > 0 && typeof g['last-delivered-id'] === 'string') {
      const next = (await this.cmd.xrange(this.stream, '(' + g['last-delivered-id'], '+', 'COUNT', 1)) as [string, string[]][];
      const t = next[0] ? idTime(next[0][0]) : undefined;
      if (t !== undefined && (oldest === undefined || t < oldest)) oldest = t;
    }
    const lag = oldest === undefined ? 0 : Math.max(0, (Date.now() - oldest) / 1000);
    return { ingestPending: pending, ingestBacklog: backlog, ingestLagSeconds: lag, ingestDeadLettered: this.deadLettered };
  }

  private async ensureGroup(): Promise<void> {
    try {
      // From 0, not $: entries producers added before the first node started are work too.
      await this.cmd.xgroup('CREATE', this.stream, this.group, '0', 'MKSTREAM');
    } catch (err) {
      if (!String((err as Error).message).startsWith('BUSYGROUP')) throw err;
    }
  }

  private async run(): Promise<void> {
    // Entries this consumer read in a previous life but never acked come first.
    let history: string | undefined = '0';
    let failures = 0;
    while (!this.stopping) {
      try {
        if (Date.now() - this.lastClaim >= this.o.claimIntervalMs) {
          this.lastClaim = Date.now();
          await this.claimIdle();
          if (this.stopping) break;
        }
        if (Date.now() - this.lastRetire >= Math.min(60_000, this.o.consumerRetireMs)) {
          this.lastRetire = Date.now();
          await this.retireConsumers();
        }
        let entries: StreamEntry[];
        if (history !== undefined) {
          entries = await this.read(history, false);
          if (entries.length === 0) history = undefined;
          else history = entries[entries.length - 1]![0];
        } else {
          entries = await this.read('>', true);
        }
        for (const [id, fields] of entries) {
          if (this.stopping) break;
          // Entries deleted from the stream while pending come back with no fields.
          if (!fields) {
            await this.cmd.xack(this.stream, this.group, id);
            continue;
          }
          await this.handle(id, fields, history !== undefined ? await this.deliveries(id) : 1);
        }
        failures = 0;
        this.lastError = undefined;
      } catch (err) {
        if (this.stopping) break;
        const msg = (err as Error).message ?? String(err);
        this.lastError = msg;
        if (msg.startsWith('NOGROUP')) {
          // The stream was deleted (and with it the group): start over.
          await this.ensureGroup().catch(() => {});
          continue;
        }
        failures++;
        if (failures === 1) this.log.warn({ err: msg }, 'ingest read failed; retrying');
        await this.pause(Math.min(2_000, 50 * 2 ** Math.min(failures, 6)));
      }
    }
  }

  private async read(id: string, block: boolean): Promise<StreamEntry[]> {
    const args: (string | number)[] = ['GROUP', this.group, this.o.consumer, 'COUNT', this.o.batchSize];
    if (block) args.push('BLOCK', this.o.blockMs);
    args.push('STREAMS', this.stream, id);
    this.inBlock = block;
    try {
      const reply = (await (this.blocking as Redis).call('XREADGROUP', ...args)) as [string, StreamEntry[]][] | [string, StreamEntry[]] | null;
      if (!reply || reply.length === 0) return [];
      // RESP2: [[stream, entries]]; RESP3 (map flattened by ioredis): [stream, entries].
      return (typeof reply[0] === 'string' ? reply[1] : reply[0]![1]) as StreamEntry[];
    } finally {
      this.inBlock = false;
    }
  }

  /** Takes over entries idle longer than claimIdleMs (their consumer died or is stuck) and handles them. */
  private async claimIdle(): Promise<void> {
    let cursor = '0-0';
    do {
      const reply = (await (this.cmd as Redis | Cluster).call(
        'XAUTOCLAIM',
        this.stream,
        this.group,
        this.o.consumer,
        this.o.claimIdleMs,
        cursor,
        'COUNT',
        this.o.batchSize,
      )) as [string, (StreamEntry | null)[], string[]?];
      cursor = reply[0];
      for (const e of reply[1]) {
        if (this.stopping) return;
        if (!e || !e[1]) continue;
        const n = await this.deliveries(e[0]);
        this.log.info({ id: e[0], deliveries: n }, 'claimed an idle ingest entry');
        await this.handle(e[0], e[1], n);
      }
    } while (cursor !== '0-0' && !this.stopping);
  }

  /** Deletes other consumers that hold nothing and have been idle for consumerRetireMs. */
  private async retireConsumers(): Promise<void> {
    const consumers = ((await this.cmd.xinfo('CONSUMERS', this.stream, this.group)) as (string | number)[][]).map(toRecord);
    for (const c of consumers) {
      if (c.name === this.o.consumer || Number(c.pending) !== 0 || Number(c.idle) < this.o.consumerRetireMs) continue;
      // DELCONSUMER would drop the consumer's pending entries with it: only ever for one with none. A live
      // consumer touches the group every blockMs, so consumerRetireMs of idleness means its process is gone.
      await this.cmd.xgroup('DELCONSUMER', this.stream, this.group, String(c.name));
      this.log.info({ retired: c.name }, 'removed an idle ingest consumer');
    }
  }

  private async deliveries(id: string): Promise<number> {
    const r = (await this.cmd.xpending(this.stream, this.group, id, id, 1)) as [string, string, number, number][];
    return r[0]?.[3] ?? 1;
  }

  private async handle(id: string, fields: string[], deliveries: number): Promise<void> {
    let payload: string | undefined;
    for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === 'payload') payload = fields[i + 1];
    if (payload === undefined) return this.toDead(id, '', 'entry has no payload field');
    if (deliveries > this.o.maxDeliveries) return this.toDead(id, payload, `delivered ${deliveries} times (max ${this.o.maxDeliveries}) without success`);
    if (deliveries > 1) this.redelivered++;
    let body: unknown;
    try {
      body = JSON.parse(payload);
    } catch (err) {
      return this.toDead(id, payload, `payload is not JSON: ${(err as Error).message}`);
    }
    try {
      await this.o.handler(body, { id, deliveries });
    } catch (err) {
      if (classifyIngestFailure(err) === 'dead') {
        return this.toDead(id, payload, `rejected (${(err as { status: number }).status}): ${(err as Error).message}`);
      }
      // Left pending: retried after claimIdleMs, dead-lettered after maxDeliveries.
      this.lastError = (err as Error).message;
      this.log.warn({ id, deliveries, err: (err as Error).message }, 'ingest entry failed; will retry');
      return;
    }
    await this.cmd.xack(this.stream, this.group, id);
    this.handled++;
  }

  private async toDead(id: string, payload: string, reason: string): Promise<void> {
    await this.dead.add({ payload, reason, id, consumer: this.o.consumer });
    await this.cmd.xack(this.stream, this.group, id);
    this.deadLettered++;
    this.log.warn({ id, reason }, 'ingest entry dead-lettered');
  }

  /** A pause that stop() cuts short. */
  private pause(ms: number): Promise<void> {
    const pause = wakeablePause(ms);
    this.wake = pause.wake;
    return pause.done;
  }
}

/** XINFO replies are flat [key, value, …] arrays in RESP2. */
function toRecord(flat: (string | number)[]): Record<string, string | number> {
  const r: Record<string, string | number> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) r[String(flat[i])] = flat[i + 1]!;
  return r;
}

/** The ms time part of a stream id (auto-generated ids are `<ms>-<n>`). */
function idTime(id: string): number | undefined {
  const t = Number(id.slice(0, id.indexOf('-')));
  return Number.isFinite(t) ? t : undefined;
}
