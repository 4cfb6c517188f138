/**
 * prom-client's default process and Node.js metrics, made `promtool check
 * metrics` clean. prom-client exports three gauges named `*_total`
 * (nodejs_active_handles_total, nodejs_active_requests_total,
 * nodejs_active_resources_total), a suffix Prometheus reserves for counters
 * (and `_count`/`_sum` are reserved for histograms and summaries). They are
 * dropped: each is the sum of the per-type gauge of the same stem, which stays,
 * e.g. `sum by (node) (nodejs_active_handles)`.
 *
 * `process_open_fds` is read without listing the descriptors (see openFdCount).
 */
import { readdirSync, statSync } from 'node:fs';
import client from 'prom-client';

const MISNAMED_GAUGES = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];
const OPEN_FDS = 'process_open_fds';

/**
 * Open file descriptors of this process. prom-client lists /proc/self/fd on every scrape
 * (readdirSync: one string per descriptor, the event loop blocked meanwhile — 5–8 ms at 5,000
 * connections, 14–24 ms at 15,000; issue 20). Linux 6.2 and later report the count as that
 * directory's size: one stat, ~0.06 ms at any count. Earlier kernels report 0 there, and get the
 * listing (less the descriptor the listing itself held, as prom-client counts). Undefined where
 * there is no /proc (prom-client registers the gauge on Linux only).
 */
export function openFdCount(stat: (path: string) => { size: number } = statSync, list: (path: string) => unknown[] = readdirSync): number | undefined {
  try {
    const size = stat('/proc/self/fd').size;
    return size > 0 ? size : list('/proc/self/fd').length - 1;
  } catch {
    return undefined;
  }
}

/** Registers the default metrics on `registry`, without the gauges named like counters. */
export function collectDefaultMetrics(registry: client.Registry): void {
  client.collectDefaultMetrics({ register: registry });
  for (const name of MISNAMED_GAUGES) registry.removeSingleMetric(name);
  if (registry.getSingleMetric(OPEN_FDS) !== undefined) {
    registry.removeSingleMetric(OPEN_FDS);
    new client.Gauge({
      name: OPEN_FDS,
      help: 'Number of open file descriptors.',
      registers: [registry],
      collect() {
        const n = openFdCount();
        if (n !== undefined) this.set(n);
      },
    });
  }
}
