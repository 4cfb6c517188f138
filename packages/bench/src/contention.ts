/**
 * How much of the machine something other than this benchmark used during a
 * run. Server, client processes and the orchestrator share the cores, so any
 * foreign load (builds, tests of other work on the same box) lowers every
 * figure; the report states it rather than hiding it. Busy time is
 * user+nice+system from /proc/stat minus our processes' utime+stime.
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { CLK_TCK, parseStatCpuTicks } from './procstat.js';

export interface ContentionMark {
  atMs: number;
  machineBusyTicks: number;
  ourTicks: number;
  load1: number;
}

export function parseProcStatBusy(stat: string): number {
  const line = stat.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) throw new Error('no cpu line in /proc/stat');
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system (idle iowait irq softirq steal excluded: interrupts of our own loopback traffic land there)
  return (f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0);
}

function ticksOf(pid: number): number {
  try {
    return parseStatCpuTicks(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return 0;
  }
}

/** Marks are only comparable for the same set of pids. */
export function mark(pids: number[], atMs: number): ContentionMark | null {
  try {
    const busy = parseProcStatBusy(readFileSync('/proc/stat', 'utf8'));
    let ours = 0;
    for (const p of pids) ours += ticksOf(p);
    return { atMs, machineBusyTicks: busy, ourTicks: ours, load1: loadavg()[0] ?? 0 };
  } catch {
    return null;
  }
}

/** Foreign CPU between two marks, % of one core (clamped at 0: accounting granularity). */
export function foreignCpuPercent(a: ContentionMark, b: ContentionMark): number {
  const wall = (b.atMs - a.atMs) / 1000;
  if (wall <= 0) return 0;
  const foreign = b.machineBusyTicks - a.machineBusyTicks - (b.ourTicks - a.ourTicks);
  return Math.max(0, Math.round((foreign / CLK_TCK / wall) * 1000) / 10);
}

/** CPU of the processes of a mark (its `ourTicks`) between two marks, % of one core. */
export function auxCpuPercent(a: ContentionMark, b: ContentionMark): number {
  const wall = (b.atMs - a.atMs) / 1000;
  if (wall <= 0) return 0;
  return Math.max(0, Math.round(((b.ourTicks - a.ourTicks) / CLK_TCK / wall) * 1000) / 10);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Waits, up to `maxWaitMs`, for a one-second window in which other processes
 * use less than `thresholdPercent` of a core, so a run starts on a quiet
 * machine when one can be had. Returns the last foreign load seen.
 */
export async function waitForQuiet(maxWaitMs: number, thresholdPercent: number, nowMs: () => number): Promise<{ quiet: boolean; foreignPercent: number; waitedMs: number }> {
  const start = nowMs();
  while (true) {
    const a = mark([process.pid], nowMs());
    await sleep(1000);
    const b = mark([process.pid], nowMs());
    if (!a || !b) return { quiet: true, foreignPercent: 0, waitedMs: nowMs() - start };
    const last = foreignCpuPercent(a, b);
    if (last < thresholdPercent) return { quiet: true, foreignPercent: last, waitedMs: nowMs() - start };
    if (nowMs() - start >= maxWaitMs) return { quiet: false, foreignPercent: last, waitedMs: nowMs() - start };
  }
}
