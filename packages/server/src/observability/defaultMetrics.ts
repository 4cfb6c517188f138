/**
 * prom-client's default process and Node.js metrics, made `promtool check
 * metrics` clean. prom-client exports three gauges named `*_total`
 * (nodejs_active_handles_total, nodejs_active_requests_total,
 * nodejs_active_resources_total), a suffix Prometheus reserves for counters
 * (and `_count`/`_sum` are reserved for histograms and summaries). They are
 * dropped: each is the sum of the per-type gauge of the same stem, which stays,
 * e.g. `sum by (node) (nodejs_active_handles)`.
 */
import client from 'prom-client';

const MISNAMED_GAUGES = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/** Registers the default metrics on `registry`, without the gauges named like counters. */
export function collectDefaultMetrics(registry: client.Registry): void {
  client.collectDefaultMetrics({ register: registry });
  for (const name of MISNAMED_GAUGES) registry.removeSingleMetric(name);
}
