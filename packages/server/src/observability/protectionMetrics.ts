/**
 * Metrics of the protection features (issue 21): load shedding, live
 * configuration reloads, connection balancing, and compaction after a connect
 * storm (issue 20). Registered beside the core
 * metrics on the same registry; read at scrape time.
 */
import type { Metrics } from './metrics.js';
import { readCounter, readGauge } from './metrics.js';
import type { LoadShedder } from '../limits/loadShedder.js';
import type { LiveConfig } from '../config/live.js';
import type { IdleCompaction } from '../runtime/idleCompaction.js';

export interface ProtectionSources {
  shedder: LoadShedder;
  live: LiveConfig;
  /** Connections closed with 1001 `rebalance` by this node. */
  rebalanced: () => number;
  compaction: IdleCompaction;
}

export function registerProtectionMetrics(metrics: Metrics, src: ProtectionSources): void {
  const r = metrics.registry;
  readGauge(r, 'herald_load_shed_level', 'Load shedding level: 0 normal, 1 refusing new connections, 2 also refusing ephemeral API publishes.', [], () => [[{}, src.shedder.level]]);
  readCounter(r, 'herald_load_shed_episodes_total', 'Times the node started shedding load.', [], () => [[{}, src.shedder.state.episodes]]);
  readCounter(r, 'herald_config_reloads_total', 'Configuration reloads (SIGHUP, admin action), by result (applied, refused).', ['result'], () => [
    [{ result: 'applied' }, src.live.reloads.applied],
    [{ result: 'refused' }, src.live.reloads.refused],
  ]);
  readCounter(r, 'herald_heap_compactions_total', 'Full garbage collections run after a connect storm, once the node was idle (compactAfterConnects).', [], () => [[{}, src.compaction.runs]]);
  readCounter(r, 'herald_heap_compaction_seconds_total', 'Time those collections paused the node, seconds.', [], () => [[{}, src.compaction.pauseSeconds]]);
  readCounter(r, 'herald_rebalance_closes_total', 'Connections this node closed with 1001 rebalance (connection balancing).', [], () => [[{}, src.rebalanced()]]);
}
