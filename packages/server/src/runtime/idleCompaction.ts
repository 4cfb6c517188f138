/**
 * Compaction after a connect storm (issue 20, memory per connection).
 *
 * A burst of connects (a deploy, a network blip, every client reconnecting at once) leaves V8's
 * old space full of garbage: each connect's transient objects (HTTP upgrade, token check, engine
 * commands in flight) are alive at the scavenges that run during the burst, so they are promoted,
 * and once dead they hold old-space pages that V8 keeps committed until a full collection happens
 * to run. Measured on 45,000 connects on 3 Redis nodes at ~2,400/s (docs/benchmarks.md, "Compaction
 * after a connect storm"): 8.8–9.5 KB of RSS per held connection without compaction, 8.2 KB after one
 * full collection, 5.3–5.6 KB after this one's 3–4 — the rest was garbage, not state.
 *
 * So once a node has taken `afterConnects` connects since its last compaction, and then has gone
 * `quietMs` without a new connect while its event loop was mostly idle (utilization under
 * IDLE_UTILIZATION in every check), it compacts: one full collection per check (a second apart),
 * while they still shrink the old space — V8 evacuates only part of the fragmented pages per
 * collection, and the first one after a storm often frees little (measured: 3 to 4 passes of
 * 66–130 ms each on 15,000 connections held). Each pause then delays little: the node is idle by that
 * measure, and a new connect or a busy loop stops the passes. A node under steady publish load
 * never passes the idle test and never compacts; one that never has a storm compacts at most once
 * per `afterConnects` connects.
 */
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Logger } from '../observability/logger.js';

/**
 * Event-loop utilization (0–1) over one check interval under which the node counts as idle: 15,000
 * idle connections (heartbeats) stay well under it; a node delivering a few thousand messages a
 * second does not (at 0.25, nodes compacted during the cross-node unicast bench).
 */
export const IDLE_UTILIZATION = 0.05;

/** How often the node looks (and the time between two collections of one compaction), ms. */
export const CHECK_INTERVAL_MS = 1000;

/** Full collections one compaction runs at most. */
export const MAX_PASSES = 4;

/** A pass after the first that shrinks the old space by less than this fraction ends the compaction. */
export const MIN_SHRINK = 0.05;

export interface IdleCompactionOptions {
  /** Connects since the last compaction (or the start) that make one worth it; 0: never. */
  afterConnects: number;
  /** Time without a new connect, and idle, before compacting, ms. */
  quietMs: number;
}

export interface IdleCompactionDeps {
  /** A full garbage collection (V8's `gc`); undefined: compaction is unavailable. */
  gc: (() => void) | undefined;
  /** Connects the node has taken so far (a counter that only grows). */
  connects: () => number;
  log: Logger;
  /** Event-loop utilization since the previous call (tests drive it; default: perf_hooks). */
  utilization?: () => number;
  /** Monotonic ms (tests drive it). */
  now?: () => number;
  /** Bytes V8 has committed for its old space (tests drive it; default: v8.getHeapSpaceStatistics). */
  oldSpaceBytes?: () => number;
}

/** V8's full collection for this process: `gc` when the process runs with --expose-gc, else exposed now. */
export function v8FullGc(): () => void {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (typeof exposed === 'function') return exposed;
  // The flag must be set before the function is looked up; a new context then has `gc` as a global.
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

function oldSpaceBytes(): number {
  return getHeapSpaceStatistics().find((x) => x.space_name === 'old_space')?.space_size ?? 0;
}

function eventLoopUtilization(): () => number {
  let last: EventLoopUtilization = performance.eventLoopUtilization();
  return () => {
    const now = performance.eventLoopUtilization();
    const u = performance.eventLoopUtilization(now, last).utilization;
    last = now;
    return u;
  };
}

export class IdleCompaction {
  /** Compactions begun since start. */
  runs = 0;
  /** Seconds their collections paused the node, in all. */
  pauseSeconds = 0;
  private readonly timer: NodeJS.Timeout | undefined;
  private readonly utilization: () => number;
  private readonly now: () => number;
  private readonly oldSpace: () => number;
  /** Collections of the compaction in progress (0: none in progress), the old space before it and after the last one, its pauses. */
  private passes = 0;
  private startBytes = 0;
  private lastBytes = 0;
  private passMs = 0;
  /** `connects()` at the last compaction. */
  private mark: number;
  /** `connects()` at the last check, and since when the node has been quiet. */
  private seen: number;
  private quietSince: number;

  constructor(
    private readonly o: IdleCompactionOptions,
    private readonly d: IdleCompactionDeps,
  ) {
    this.utilization = d.utilization ?? eventLoopUtilization();
    this.now = d.now ?? (() => performance.now());
    this.oldSpace = d.oldSpaceBytes ?? oldSpaceBytes;
    this.mark = this.seen = d.connects();
    this.quietSince = this.now();
    if (d.gc !== undefined && o.afterConnects > 0) {
      this.timer = setInterval(() => this.check(), CHECK_INTERVAL_MS);
      this.timer.unref();
    }
  }

  /** Whether compaction can run at all (a `gc` and afterConnects > 0). */
  get enabled(): boolean {
    return this.d.gc !== undefined && this.o.afterConnects > 0;
  }

  /** One look; true when it ran a collection. Public for tests that drive it. */
  check(): boolean {
    const now = this.now();
    const n = this.d.connects();
    const busy = this.utilization() > IDLE_UTILIZATION;
    if (n !== this.seen || busy) {
      this.seen = n;
      this.quietSince = now;
      if (this.passes > 0) this.finish('the node got busy');
      return false;
    }
    if (this.passes === 0) {
      if (!this.enabled || n - this.mark < this.o.afterConnects || now - this.quietSince < this.o.quietMs) return false;
      this.mark = n;
      this.runs++;
      this.startBytes = this.lastBytes = this.oldSpace();
      this.passMs = 0;
    }
    const t0 = performance.now();
    this.d.gc!();
    const ms = performance.now() - t0;
    // The pause is the loop's own work, not load: the next check's utilization starts after it.
    this.utilization();
    this.passMs += ms;
    this.pauseSeconds += ms / 1000;
    this.passes++;
    const bytes = this.oldSpace();
    const shrank = bytes < this.lastBytes * (1 - MIN_SHRINK);
    this.lastBytes = bytes;
    if (this.passes >= MAX_PASSES) this.finish('at most passes');
    else if (this.passes >= 2 && !shrank) this.finish('the old space stopped shrinking');
    return true;
  }

  /** Whether a compaction is in progress (tests). */
  get compacting(): boolean {
    return this.passes > 0;
  }

  private finish(why: string): void {
    const mb = (b: number): number => Math.round(b / 1e5) / 10;
    this.d.log.info({ connects: this.mark, passes: this.passes, pauseMs: Math.round(this.passMs), oldSpaceMB: [mb(this.startBytes), mb(this.lastBytes)], why }, 'compacted the heap after a connect storm');
    this.passes = 0;
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
  }
}
