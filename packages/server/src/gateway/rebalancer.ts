/**
 * Connection balancing (Redis engine, off by default): a node holding more
 * than its fair share of the cluster's connections (total / live nodes) by
 * more than rebalanceMarginPercent closes what it holds above the fair share with 1001 `rebalance`,
 * at most rebalanceMaxClosesPerSec. The SDK reconnects with jitter, the load
 * balancer places the client elsewhere, and the inbox makes it lossless.
 *
 * Counts of other nodes come from presence reports (engine/redis/presence.ts,
 * one per heartbeat), so they lag. After closing, a node waits until every
 * other node has reported again before it judges once more: it never acts
 * twice on the same stale picture, which would overshoot. And it acts only on
 * an imbalance seen in two report rounds: a burst of connects shorter than a
 * heartbeat (reports still showing the old counts) is not an imbalance.
 */
import type { NodeSummary } from '../engine/types.js';
import type { LiveConfig } from '../config/live.js';
import type { Logger } from '../observability/logger.js';

export interface RebalancerDeps {
  live: LiveConfig;
  nodeId: string;
  nodes: () => Promise<NodeSummary[]>;
  /** Authenticated connections on this node now. */
  localCount: () => number;
  /** Closes up to `n` connections with 1001 rebalance; returns how many it closed. */
  closeSome: (n: number) => number;
  log: Logger;
}

export class Rebalancer {
  /** Connections closed by balancing since start (metrics). */
  closed = 0;
  private pending = 0;
  private lastActAt = 0;
  private running = false;
  /** Other nodes' report times when the imbalance was first seen (undefined: none seen). */
  private suspect: Map<string, number> | undefined;
  private readonly timer: NodeJS.Timeout;
  private readonly pacer: NodeJS.Timeout;

  constructor(
    private readonly d: RebalancerDeps,
    intervalMs: number,
  ) {
    this.timer = setInterval(() => void this.judge().catch((err: unknown) => d.log.warn({ err }, 'rebalance check failed')), intervalMs);
    this.timer.unref();
    // Closes are paced per second, whatever the judging interval.
    this.pacer = setInterval(() => this.pace(), 1000);
    this.pacer.unref();
  }

  /** Compares this node's count with the cluster's and plans closes. Public for tests. */
  async judge(): Promise<void> {
    if (this.running || this.pending > 0) return;
    this.running = true;
    try {
      const c = this.d.live.current;
      const others = (await this.d.nodes()).filter((n) => n.node !== this.d.nodeId);
      if (others.length === 0) return;
      if (others.some((n) => n.updatedAt <= this.lastActAt)) return; // wait for fresh reports
      const local = this.d.localCount();
      const fair = (local + others.reduce((a, n) => a + n.connections, 0)) / (others.length + 1);
      const ceiling = Math.ceil(fair * (1 + c.rebalanceMarginPercent / 100));
      if (local <= ceiling) {
        this.suspect = undefined;
        return;
      }
      if (!this.suspect) {
        this.suspect = new Map(others.map((n) => [n.node, n.updatedAt]));
        return;
      }
      const seen = this.suspect;
      if (others.some((n) => n.updatedAt <= (seen.get(n.node) ?? 0))) return; // not yet confirmed by a new round
      this.suspect = undefined;
      // Over the margin: hand back everything above the fair share, so the cluster ends level
      // rather than at the margin's edge (safe because the next judgement waits for fresh reports).
      this.pending = local - Math.ceil(fair);
      this.d.log.info({ local, fair: Math.round(fair), ceiling, closing: this.pending }, 'rebalancing: over the fair share of connections');
      this.pace();
    } finally {
      this.running = false;
    }
  }

  private pace(): void {
    if (this.pending <= 0) return;
    const n = this.d.closeSome(Math.min(this.pending, this.d.live.current.rebalanceMaxClosesPerSec));
    this.closed += n;
    this.pending = n === 0 ? 0 : this.pending - n;
    this.lastActAt = Date.now();
  }

  stop(): void {
    clearInterval(this.timer);
    clearInterval(this.pacer);
  }
}
