/**
 * "Flat after warm-up": for each series (a metric of a node, or Redis memory),
 * the median of the last third of the run must not exceed the median of the
 * first third after warm-up by more than the series' tolerance
 * (`first × factor + slack`). One-sided: a series that falls (a restarted node,
 * freed memory) is flat enough. Pure functions, unit-tested.
 */
import type { Sample } from './sampler.js';

/** Sample fields, plus `fdsNet`: open files minus client connections (the files a node holds beyond its clients' sockets). */
export type Metric = 'rssMiB' | 'heapMiB' | 'lagP99Ms' | 'fds' | 'fdsNet' | 'usedMemoryMiB';

/** A metric's value in a sample, when the sample has it. */
export function valueOf(s: Sample, metric: Metric): number | undefined {
  if (metric === 'fdsNet') return typeof s.fds === 'number' && typeof s.connections === 'number' ? s.fds - s.connections : undefined;
  const v = s[metric];
  return typeof v === 'number' ? v : undefined;
}

export interface Tolerance {
  factor: number;
  slack: number;
}

/** Allowed growth per metric: last-third median ≤ first-third median × factor + slack. */
export const TOLERANCES: Record<Metric, Tolerance> = {
  rssMiB: { factor: 1.2, slack: 16 },
  heapMiB: { factor: 1.25, slack: 8 },
  lagP99Ms: { factor: 1.5, slack: 20 },
  fds: { factor: 1.2, slack: 8 },
  fdsNet: { factor: 1.2, slack: 8 },
  usedMemoryMiB: { factor: 1.25, slack: 8 },
};

export interface SeriesStats {
  node: string;
  metric: Metric;
  samples: number;
  start: number;
  end: number;
  median: number;
  min: number;
  max: number;
  /** Median of the first third after warm-up, and of the last third. */
  firstThird: number;
  lastThird: number;
  limit: number;
  flat: boolean;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * Stats and the flatness verdict of every (node, metric) series present in
 * `samples`, ignoring samples before `warmupSec` for the thirds (start/end/median
 * cover the whole run). A series with fewer than 6 samples after warm-up is not
 * judged (flat: false, it cannot show anything).
 */
export function flatness(samples: readonly Sample[], warmupSec: number, tolerances: Record<Metric, Tolerance> = TOLERANCES): SeriesStats[] {
  const out: SeriesStats[] = [];
  const nodes = [...new Set(samples.map((s) => s.node))].sort();
  for (const node of nodes) {
    for (const metric of Object.keys(tolerances) as Metric[]) {
      const all = samples.flatMap((s) => {
        const v = s.node === node && !s.down ? valueOf(s, metric) : undefined;
        return v === undefined ? [] : [[s.t, v] as const];
      });
      if (all.length === 0) continue;
      const post = all.filter(([t]) => t >= warmupSec);
      const tEnd = all[all.length - 1]![0];
      const third = (tEnd - warmupSec) / 3;
      const first = post.filter(([t]) => t < warmupSec + third).map(([, v]) => v);
      const last = post.filter(([t]) => t >= tEnd - third).map(([, v]) => v);
      const tol = tolerances[metric];
      const f = median(first);
      const l = median(last);
      const limit = f * tol.factor + tol.slack;
      const vals = all.map(([, v]) => v);
      out.push({
        node,
        metric,
        samples: all.length,
        start: vals[0]!,
        end: vals[vals.length - 1]!,
        median: median(vals),
        min: Math.min(...vals),
        max: Math.max(...vals),
        firstThird: f,
        lastThird: l,
        limit,
        flat: post.length >= 6 && first.length >= 2 && last.length >= 2 && l <= limit,
      });
    }
  }
  return out;
}
