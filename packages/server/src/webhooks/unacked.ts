/**
 * `unacked` events: a publish with `notify_unacked_after` registers a
 * deadline per user it stored the message for; when the deadline is due, the
 * node that claims it (once for the cluster) reads the cursors — any device's
 * for a message to the user, the target device's for a device-targeted one —
 * and emits `unacked` when none reached the message's seq. A message acked in
 * time fires nothing. Checked every `checkMs`: an event comes at most that
 * long after its deadline.
 */
import type { Engine, InboxMessage } from '../engine/types.js';
import type { Logger } from '../observability/logger.js';
import type { DeadlineStore, Deadline } from './deadlines.js';
import { factId, type WebhookEvent } from './event.js';

const BATCH = 500;

export class UnackedWatch {
  private timer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(
    private readonly store: DeadlineStore,
    private readonly engine: Engine,
    private readonly node: string,
    private readonly emit: (e: WebhookEvent) => void,
    private readonly log: Logger,
    private readonly checkMs = 1000,
  ) {}

  /** Registers the deadline of a stored message (awaited by the publish: it holds once the API answered). */
  watch(tenant: string, user: string, m: InboxMessage, afterSec: number): Promise<void> {
    return this.store.add({ tenant, user, seq: m.seq, id: m.id, at: m.ts + afterSec * 1000, ...(m.device !== undefined ? { device: m.device } : {}) });
  }

  start(): void {
    this.timer = setInterval(() => void this.check(), this.checkMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** One pass over due deadlines (one at a time per node). */
  async check(now = Date.now()): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      for (;;) {
        const due = await this.store.due(now, BATCH);
        for (const d of due) await this.fire(d);
        if (due.length < BATCH) break;
      }
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'unacked deadline check failed');
    } finally {
      this.running = false;
    }
  }

  private async fire(d: Deadline): Promise<void> {
    const acked =
      d.device !== undefined
        ? ((await this.engine.getCursor(d.tenant, d.user, d.device)) ?? 0) >= d.seq
        : (await this.engine.deviceCursors(d.tenant, d.user)).max >= d.seq;
    if (!acked) {
      this.emit({
        id: factId('unacked', d.tenant, d.user, d.seq, d.id),
        type: 'unacked',
        ts: Date.now(),
        node: this.node,
        tenant: d.tenant,
        user: d.user,
        seq: d.seq,
        message_id: d.id,
        ...(d.device !== undefined ? { device: d.device } : {}),
      });
    }
    await this.store.settle(d);
  }
}
