/**
 * The Redis engine's outbox: one Redis Stream per partition, consumed by the
 * nodes as the consumer group `herald-webhooks`.
 *
 * - Exactly one node sends a partition at a time: it holds the partition's
 *   lease (SET NX PX, renewed every tick). That keeps one request in flight
 *   per partition for the whole cluster, hence order per user.
 * - The holder reads with XREADGROUP and, after the receiver's 2xx, XACKs and
 *   XDELs. Until then an entry stays pending in the group.
 * - A node that takes a partition over (the holder died: its lease ran out)
 *   first moves every pending entry to itself with XAUTOCLAIM, oldest first,
 *   and sends those before anything new: an event the dead node was sending
 *   is sent again (same id; receivers dedupe), none is lost.
 * - Reads are fenced by the lease: XREADGROUP and XAUTOCLAIM run in one
 *   script that first checks the lease is still this node's. A holder that
 *   stalled past its lease (GC, a starved process) learns it lost the
 *   partition only at its next lease round; unfenced, it could read new
 *   entries after the new holder's XAUTOCLAIM and leave them pending under
 *   itself, where no takeover would look again (lost if it then died).
 * - Leases are balanced: a node holds at most its fair share (partitions /
 *   sending nodes, rounded up; nodes announce themselves in a sorted set each
 *   round) and hands back idle partitions above it, so a node that joins
 *   starts sending within a few rounds.
 *
 * Appends are written at once, each XADD issued when the event is made —
 * never queued behind the previous write's reply (issue 23: batches written one
 * after another left events seconds old unwritten at a kill -9 under load).
 * With `write` (the engine's command connection, which also runs the presence
 * scripts that write `online`/`offline`), a node's events reach Redis in the
 * order it made them. A write that fails is kept, in order, and later events
 * wait behind it; it is tried again every RETRY_MS. Up to `maxBuffered` events
 * wait that way; beyond that they are dropped and counted.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from '../observability/logger.js';
import { closeClient, connectClient, createClient, type RedisClient } from '../redis/connect.js';
import type { EventType } from './event.js';
import type { EventWrite } from '../engine/types.js';
import { outboxFields, type Outbox, type OutboxDepth, type OutboxEntry, type OutboxEvent } from './outbox.js';

export interface RedisOutboxOptions {
  url: string;
  keyPrefix: string;
  nodeId: string;
  partitions: number;
  /** Lease of a partition, ms: a crashed holder's partitions move after at most this long. */
  leaseMs: number;
  /** Entries per partition stream at most (approximate MAXLEN trim: a safety bound, not a queue policy). */
  maxLen: number;
  /** Events buffered in this process while Redis is unreachable. */
  maxBuffered: number;
  /** Writes an entry (the engine's `appendEvent`); default: this outbox's own connection. */
  write?: (w: EventWrite) => Promise<void>;
  logger: Logger;
}

/** Pause before failed writes are tried again, ms. */
const RETRY_MS = 500;

const GROUP = 'herald-webhooks';

const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`;
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/**
 * Reads a partition only while this node holds its lease (KEYS: lease, stream; ARGV: me, group,
 * count, claim). claim = 1: the pending entries of any consumer, oldest first, as XAUTOCLAIM's
 * [next cursor, entries]; else new entries, as XREADGROUP's entries. nil: the lease is not ours.
 */
const TAKE = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return false end
if ARGV[4] == '1' then
  local c = redis.call('XAUTOCLAIM', KEYS[2], ARGV[2], ARGV[1], 0, '0-0', 'COUNT', ARGV[3])
  return {c[1], c[2]}
end
local got = redis.call('XREADGROUP', 'GROUP', ARGV[2], ARGV[1], 'COUNT', ARGV[3], 'STREAMS', KEYS[2], '>')
if got then return got[1][2] end
return {}`;

type StreamEntry = [id: string, fields: string[]];

export class RedisOutbox implements Outbox {
  private readonly client: RedisClient;
  private readonly me: string;
  /** Partitions held, and whether their pending entries still have to be claimed. */
  private readonly held = new Map<number, { claim: boolean }>();
  /** Events whose write failed (and those made after them), in order, waiting for a retry. */
  private readonly buffer: { partition: number; e: OutboxEvent }[] = [];
  /** Writes issued and not answered yet: stop() waits for them. */
  private readonly writing = new Set<Promise<void>>();
  private retrying = false;
  private failing = false;
  private timer: NodeJS.Timeout | undefined;
  private owners = 1;
  private stopped = false;
  onDrop: Outbox['onDrop'] = () => {};
  busy: Outbox['busy'] = () => false;

  constructor(private readonly o: RedisOutboxOptions) {
    this.me = `${o.nodeId}:${randomBytes(4).toString('hex')}`;
    this.client = createClient(o.url, { name: `herald:${o.nodeId}:webhooks`, logger: o.logger });
  }

  stream(p: number): string {
    return `${this.o.keyPrefix}webhooks:{${p}}:outbox`;
  }
  private lease(p: number): string {
    return `${this.o.keyPrefix}webhooks:{${p}}:lease`;
  }

  async start(): Promise<void> {
    await connectClient(this.client, 10_000, 'webhook outbox');
    await Promise.all(
      Array.from({ length: this.o.partitions }, (_, p) =>
        this.client.xgroup('CREATE', this.stream(p), GROUP, '0', 'MKSTREAM').catch((err: Error) => {
          if (!err.message.includes('BUSYGROUP')) throw err;
        }),
      ),
    );
    await this.leases();
    this.timer = setInterval(() => {
      this.leases().catch((err: Error) => this.o.logger.warn({ err: err.message }, 'webhook lease round failed'));
    }, Math.max(50, Math.floor(this.o.leaseMs / 3)));
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await Promise.allSettled([...this.writing]);
    await this.retry(false);
    this.stopped = true;
    // Hand the partitions back at once: another node continues without waiting out the lease.
    await Promise.allSettled([
      ...[...this.held.keys()].map((p) => this.client.eval(RELEASE, 1, this.lease(p), this.me)),
      this.client.zrem(`${this.o.keyPrefix}webhooks:senders`, this.me),
    ]);
    this.held.clear();
    await closeClient(this.client);
  }

  append(partition: number, events: readonly OutboxEvent[]): void {
    if (this.stopped) return;
    for (const e of events) {
      // Behind events waiting for a retry, so that a user's events keep their order.
      if (this.retrying || this.buffer.length > 0) this.keep(partition, e);
      else this.write(partition, e);
    }
  }

  private writeOne(partition: number, e: OutboxEvent): Promise<unknown> {
    const w: EventWrite = { key: this.stream(partition), maxLen: this.o.maxLen, fields: outboxFields(e) };
    return this.o.write ? this.o.write(w) : this.client.xadd(w.key, 'MAXLEN', '~', w.maxLen, '*', ...w.fields);
  }

  private write(partition: number, e: OutboxEvent): void {
    const p: Promise<void> = this.writeOne(partition, e).then(
      () => {
        if (this.failing) this.o.logger.info('webhook outbox writes recovered');
        this.failing = false;
      },
      (err: Error) => {
        this.failed(err);
        this.keep(partition, e);
      },
    );
    this.writing.add(p);
    void p.finally(() => this.writing.delete(p));
  }

  /** Keeps an event for the retry (bounded: beyond `maxBuffered` it is dropped and counted). */
  private keep(partition: number, e: OutboxEvent): void {
    if (this.buffer.length >= this.o.maxBuffered) this.onDrop(e.type, 'overflow');
    else this.buffer.push({ partition, e });
    if (!this.retrying && !this.stopped) {
      this.retrying = true;
      setTimeout(() => void this.retry(true), RETRY_MS).unref();
    }
  }

  private failed(err: Error): void {
    // Once per outage, not per event.
    if (!this.failing) this.o.logger.warn({ err: err.message, buffered: this.buffer.length }, 'webhook outbox write failed; retrying');
    this.failing = true;
  }

  /** Writes the kept events, in order, a chunk at a time; what fails stays kept (and is tried again if `again`). */
  private async retry(again: boolean): Promise<void> {
    if (again && this.stopped) return;
    this.retrying = true;
    try {
      while (this.buffer.length > 0) {
        const chunk = this.buffer.splice(0, 1000);
        const res = await Promise.allSettled(chunk.map(({ partition, e }) => this.writeOne(partition, e)));
        const failed = chunk.filter((_, i) => res[i]!.status === 'rejected');
        if (failed.length > 0) {
          this.buffer.unshift(...failed);
          throw (res.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason;
        }
      }
      if (this.failing) this.o.logger.info('webhook outbox writes recovered');
      this.failing = false;
    } catch (err) {
      this.failed(err as Error);
    } finally {
      this.retrying = false;
      if (again && this.buffer.length > 0 && !this.stopped) {
        this.retrying = true;
        setTimeout(() => void this.retry(true), RETRY_MS).unref();
      }
    }
  }

  owned(): Iterable<number> {
    return this.held.keys();
  }

  async take(partition: number, max: number): Promise<OutboxEntry[]> {
    const h = this.held.get(partition);
    if (!h) return [];
    const key = this.stream(partition);
    // After a takeover, every pending entry (any consumer's) first, oldest first; then new ones.
    const claim = h.claim;
    const got = (await this.client.eval(TAKE, 2, this.lease(partition), key, this.me, GROUP, max, claim ? 1 : 0)) as StreamEntry[] | [cursor: string, StreamEntry[]] | null;
    if (got === null) {
      // Lost the lease (it ran out while this node stalled): the new holder claims what we read.
      if (this.held.get(partition) === h) this.held.delete(partition);
      return [];
    }
    if (!claim) return parse(got as StreamEntry[]);
    const [cursor, claimed] = got as [string, StreamEntry[]];
    const entries = parse(claimed);
    if (entries.length > 0) return entries;
    // Only entries deleted meanwhile (they come back apart, and leave the pending list): scan on.
    if (cursor !== '0-0') return this.take(partition, max);
    h.claim = false;
    await this.forgetIdleConsumers(key);
    return this.take(partition, max);
  }

  /**
   * Each node incarnation reads as its own consumer; after a takeover, the consumers left with
   * nothing pending (dead or moved on) are removed, so restarts do not pile them up in the group.
   */
  private async forgetIdleConsumers(key: string): Promise<void> {
    const list = (await this.client.xinfo('CONSUMERS', key, GROUP)) as (string | number)[][];
    for (const fields of list) {
      const get = (k: string): string | number | undefined => fields[fields.indexOf(k) + 1];
      const name = String(get('name'));
      if (name !== this.me && Number(get('pending')) === 0) await this.client.xgroup('DELCONSUMER', key, GROUP, name);
    }
  }

  async done(partition: number, entries: readonly OutboxEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const ids = entries.map((e) => e.ref);
    const key = this.stream(partition);
    await Promise.all([this.client.xack(key, GROUP, ...ids), this.client.xdel(key, ...ids)]);
  }

  async depth(): Promise<OutboxDepth> {
    const P = Array.from({ length: this.o.partitions }, (_, p) => p);
    const [lens, firsts] = await Promise.all([
      Promise.all(P.map((p) => this.client.xlen(this.stream(p)))),
      Promise.all(P.map((p) => this.client.xrange(this.stream(p), '-', '+', 'COUNT', 1))),
    ]);
    let depth = 0;
    let oldest = Infinity;
    for (const n of lens) depth += n;
    for (const f of firsts) if (f[0]) oldest = Math.min(oldest, Number(f[0][0].split('-')[0]));
    return { depth, oldestAgeMs: oldest === Infinity ? 0 : Math.max(0, Date.now() - oldest) };
  }

  /** One lease round: renew what is held, learn who holds the rest, take free ones up to the fair share. */
  private async leases(): Promise<void> {
    if (this.client.status !== 'ready') return;
    const P = this.o.partitions;
    const now = Date.now();
    const members = `${this.o.keyPrefix}webhooks:senders`;
    // Senders announce themselves every round (a third of a lease); one silent for 1.5 leases is
    // gone, so the survivors' fair share grows and they take its partitions over.
    const [, , senders, holders] = await Promise.all([
      this.client.zadd(members, now, this.me),
      this.client.zremrangebyscore(members, '-inf', now - 1.5 * this.o.leaseMs),
      this.client.zcard(members),
      Promise.all(Array.from({ length: P }, (_, p) => this.client.get(this.lease(p)))),
    ]);
    this.owners = Math.max(1, senders);
    const fair = Math.ceil(P / this.owners);
    const jobs: Promise<unknown>[] = [];
    for (let p = 0; p < P; p++) {
      if (!this.held.has(p)) continue;
      if (holders[p] !== this.me) {
        // Lost it (expired while we were away, and someone took it): stop sending it.
        this.held.delete(p);
        continue;
      }
      jobs.push(
        this.client.eval(RENEW, 1, this.lease(p), this.me, this.o.leaseMs).then((n) => {
          if (Number(n) !== 1) this.held.delete(p);
        }),
      );
    }
    let count = this.held.size;
    if (count > fair) {
      for (const p of [...this.held.keys()]) {
        if (count <= fair) break;
        // Only a partition with nothing taken or in flight: its pending entries would move with it.
        if (this.busy(p)) continue;
        this.held.delete(p);
        count--;
        jobs.push(this.client.eval(RELEASE, 1, this.lease(p), this.me));
      }
    }
    for (let p = 0; p < P && count < fair; p++) {
      if (holders[p] !== null) continue;
      count++;
      jobs.push(
        this.client.set(this.lease(p), this.me, 'PX', this.o.leaseMs, 'NX').then((ok) => {
          if (ok === 'OK') this.held.set(p, { claim: true });
        }),
      );
    }
    await Promise.all(jobs);
  }
}

function parse(entries: StreamEntry[]): OutboxEntry[] {
  const out: OutboxEntry[] = [];
  for (const entry of entries) {
    // XAUTOCLAIM lists entries deleted meanwhile as null.
    if (!entry || !Array.isArray(entry[1])) continue;
    const [ref, f] = entry;
    const get = (k: string): string | undefined => {
      for (let i = 0; i < f.length; i += 2) if (f[i] === k) return f[i + 1];
      return undefined;
    };
    const json = get('e');
    if (json === undefined) continue;
    out.push({ ref, type: (get('t') ?? 'connect') as EventType, ts: Number(get('ts')) || Date.now(), json });
  }
  return out;
}
