/**
 * Counters of the webhook pipeline, read at scrape time
 * (observability/webhookMetrics.ts) and by the admin page: events by type and
 * outcome, the last delivery error, and the outbox depth (refreshed in the
 * background: a scrape never waits on Redis for it).
 */
import type { WebhookOutcome } from '../observability/labels.js';
import type { EventType } from './event.js';
import type { OutboxDepth } from './outbox.js';

export class WebhookStats {
  /** `outcome|type` → events. */
  readonly counts = new Map<string, number>();
  lastError: { at: number; message: string; events: number } | undefined;
  lastSuccessAt: number | undefined;
  depth: OutboxDepth = { depth: 0, oldestAgeMs: 0 };
  /** Webhook POST durations, seconds (set by the metrics registration; a no-op until then). */
  latency: { observe(sec: number): void } = { observe() {} };

  bump(outcome: WebhookOutcome, type: EventType, n = 1): void {
    const k = outcome + '|' + type;
    this.counts.set(k, (this.counts.get(k) ?? 0) + n);
  }

  total(outcome: WebhookOutcome): number {
    let n = 0;
    for (const [k, v] of this.counts) if (k.startsWith(outcome + '|')) n += v;
    return n;
  }
}
