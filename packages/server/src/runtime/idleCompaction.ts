/**
 * Compaction after a connect storm (issue 20, memory per connection).
 *
 * A burst of connects (a deploy, a network blip, every client reconnecting at once) leaves V8's
 * old space full of garbage: each connect's transient objects (HTTP upgrade, token check, engine
 * commands in flight) are alive at the scavenges that run during the burst, so they are promoted,
 * and once dead they hold old-space pages that V8 keeps committed until a full collection happens
 * to run. Measured on 45,000 connects on 3 Redis nodes at ~2,400/s (docs/benchmarks.md, "Compaction
 * after a connect storm"): 8.8–9.5 KB of RSS per held connection without a full collection, 3.5 KB
 * with one — the rest was garbage, not state.
 *
 * So once a node has taken `afterConnects` connects since its last compaction, and then has gone
 * `quietMs` without a new connect while its event loop was mostly idle (utilization under
 * IDLE_UTILIZATION in every check), it runs one full collection. The pause (tens of ms per 10,000
 * connections held) then delays little: the node is idle by that measure. A node under steady
 * publish load never passes the idle test and never compacts; one that never has a storm compacts
 * at most once per `afterConnects` connects.
 */
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Logger } from '../observability/logger.js';

/** Event-loop utilization (0–1) over one check interval under which the node counts as idle. */
export const IDLE_UTILIZATION = 0.25;

/** How often the node looks, ms. */
export const CHECK_INTERVAL_MS = 1000;

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
}

/** V8's full collection for this process: `gc` when the process runs with --expose-gc, else exposed now. */
export function v8FullGc(): () => void {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (typeof exposed === 'function') return exposed;
  // The flag must be set before the function is looked up; a new context then has `gc` as a global.
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
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
  /** Compactions run since start. */
  runs = 0;
  /** Seconds the compactions took, in all. */
  pauseSeconds = 0;
  private readonly timer: NodeJS.Timeout | undefined;
  private readonly utilization: () => number;
  private readonly now: () => number;
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

  /** One look; true when it compacted. Public for tests that drive it. */
  check(): boolean {
    const now = this.now();
    const n = this.d.connects();
    const busy = this.utilization() > IDLE_UTILIZATION;
    if (n !== this.seen || busy) {
      this.seen = n;
      this.quietSince = now;
      return false;
    }
    if (!this.enabled || n - this.mark < this.o.afterConnects || now - this.quietSince < this.o.quietMs) return false;
    const t0 = performance.now();
    this.d.gc!();
    const ms = performance.now() - t0;
    this.mark = n;
    this.runs++;
    this.pauseSeconds += ms / 1000;
    this.d.log.info({ connects: n, pauseMs: Math.round(ms) }, 'compacted the heap after a connect storm');
    return true;
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
  }
}
