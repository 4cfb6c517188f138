/**
 * Metrics read from the lifecycle seam: one listener that turns connection
 * and delivery events into the hot-path counters of Stats (exported at
 * scrape time) and the few histograms observed per event. Nothing here
 * allocates per event.
 */
import type { LifecycleListener } from '../events/lifecycle.js';
import type { Metrics } from './metrics.js';
import type { Stats } from './stats.js';

export function lifecycleStats(stats: Stats, metrics: Metrics): LifecycleListener {
  return {
    connected() {
      stats.connects++;
    },
    disconnected(s, code) {
      stats.bump(stats.disconnects, code);
      metrics.connectionLifetime.observe((Date.now() - s.connectedAt) / 1000);
    },
    delivered(_s, m, replay) {
      stats.deliveredReliable++;
      stats.deliveredReliableTo[m.device === undefined ? 'user' : 'device']++;
      if (replay) stats.replayed++;
      else metrics.deliverLatency.observe((Date.now() - m.ts) / 1000);
    },
    acked(_s, count) {
      stats.acked += count;
    },
    retried(_s, count) {
      stats.retried += count;
    },
    expired(_s, count) {
      stats.expired += count;
    },
  };
}
