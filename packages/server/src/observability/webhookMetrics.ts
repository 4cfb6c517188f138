/**
 * The webhook series (docs/events.md, "Metrics"), registered on the node's
 * registry always (at zero when webhooks are off): events by type and outcome,
 * outbox depth and age, POST latency.
 */
import client from 'prom-client';
import type { WebhookStats } from '../webhooks/stats.js';
import { LATENCY_BUCKETS } from './metrics.js';

export function registerWebhookMetrics(registry: client.Registry, stats: WebhookStats): void {
  new client.Counter({
    name: 'herald_webhook_events_total',
    help: 'Webhook events by type and outcome (emitted, delivered, retried, rejected, dropped_retention, dropped_overflow).',
    labelNames: ['type', 'outcome'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [k, n] of stats.counts) {
        const [outcome = '', type = ''] = k.split('|');
        if (n > 0) this.inc({ type, outcome }, n);
      }
    },
  });
  new client.Gauge({
    name: 'herald_webhook_outbox_events',
    help: 'Webhook events waiting in the outbox (this node: memory engine; the cluster: Redis engine).',
    registers: [registry],
    collect() {
      this.set(stats.depth.depth);
    },
  });
  new client.Gauge({
    name: 'herald_webhook_outbox_age_seconds',
    help: 'Age of the oldest webhook event waiting in the outbox, seconds.',
    registers: [registry],
    collect() {
      this.set(stats.depth.oldestAgeMs / 1000);
    },
  });
  const h = new client.Histogram({ name: 'herald_webhook_latency_seconds', help: 'Duration of webhook POSTs (any outcome), seconds.', buckets: LATENCY_BUCKETS, registers: [registry] });
  stats.latency = h;
}
