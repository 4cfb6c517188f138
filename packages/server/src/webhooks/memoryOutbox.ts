/**
 * The memory engine's outbox: one in-process queue per partition, bounded in
 * total by webhookMemoryMaxEvents. While it is full, new events are dropped
 * and counted (herald_webhook_events_total{outcome="dropped_overflow"}); the
 * events already waiting keep their order. Everything here is lost when the
 * process dies (docs/events.md, "Durability").
 */
import type { Outbox, OutboxDepth, OutboxEntry, OutboxEvent } from './outbox.js';

export class MemoryOutbox implements Outbox {
  private readonly queues: OutboxEntry[][];
  private size = 0;
  private n = 0;
  onDrop: Outbox['onDrop'] = () => {};
  busy: Outbox['busy'] = () => false;

  constructor(
    private readonly partitions: number,
    private readonly maxEvents: number,
  ) {
    this.queues = Array.from({ length: partitions }, () => []);
  }

  append(partition: number, events: readonly OutboxEvent[]): void {
    const q = this.queues[partition]!;
    for (const e of events) {
      if (this.size >= this.maxEvents) {
        this.onDrop(e.type, 'overflow');
        continue;
      }
      q.push({ ...e, ref: String(++this.n) });
      this.size++;
    }
  }

  *owned(): Iterable<number> {
    for (let p = 0; p < this.partitions; p++) if (this.queues[p]!.length > 0) yield p;
  }

  async take(partition: number, max: number): Promise<OutboxEntry[]> {
    return this.queues[partition]!.slice(0, max);
  }

  async done(partition: number, entries: readonly OutboxEntry[]): Promise<void> {
    const q = this.queues[partition]!;
    const gone = new Set(entries.map((e) => e.ref));
    // Taken entries sit at the head of the queue (one request in flight per partition); the scan
    // stops after the last of them, so a done costs the batch, not the queue.
    const keep: OutboxEntry[] = [];
    let removed = 0;
    let i = 0;
    for (; i < q.length && removed < gone.size; i++) {
      if (gone.has(q[i]!.ref)) removed++;
      else keep.push(q[i]!);
    }
    q.splice(0, i, ...keep);
    this.size -= removed;
  }

  async depth(): Promise<OutboxDepth> {
    let oldest = Infinity;
    for (const q of this.queues) if (q.length > 0) oldest = Math.min(oldest, q[0]!.ts);
    return { depth: this.size, oldestAgeMs: oldest === Infinity ? 0 : Math.max(0, Date.now() - oldest) };
  }

  async start(): Promise<void> {}
  async stop(): Promise<void> {}
}
