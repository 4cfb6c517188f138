/**
 * Resident memory and CPU time of a local process from /proc. The server's
 * own view of itself is not trusted for this: /proc is the same measurement
 * for every target, whatever language or framework it is written in.
 */
import { readFileSync } from 'node:fs';

/** Clock ticks per second for /proc/<pid>/stat utime/stime; 100 on every Linux ABI Node supports. */
export const CLK_TCK = 100;

export interface ProcSample {
  /** Resident set size in bytes (VmRSS). */
  rssBytes: number;
  /** utime + stime in seconds. */
  cpuSeconds: number;
  /** Monotonic wall time of the sample, ms. */
  atMs: number;
}

export function parseVmRss(status: string): number {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!m || m[1] === undefined) throw new Error('VmRSS not found in /proc status');
  return Number(m[1]) * 1024;
}

/** utime+stime in ticks. The comm field may contain spaces and parentheses, so fields are counted after the last ')'. */
export function parseStatCpuTicks(stat: string): number {
  const close = stat.lastIndexOf(')');
  if (close < 0) throw new Error('malformed /proc stat');
  // After ") " come fields 3.. of proc(5): state is field 3, utime 14, stime 15.
  const fields = stat.slice(close + 2).split(' ');
  const utime = Number(fields[14 - 3]);
  const stime = Number(fields[15 - 3]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error('malformed /proc stat');
  return utime + stime;
}

export function readProc(pid: number, atMs: number): ProcSample {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return { rssBytes: parseVmRss(status), cpuSeconds: parseStatCpuTicks(stat) / CLK_TCK, atMs };
}

/** CPU use between two samples as a percentage of one core. */
export function cpuPercent(a: ProcSample, b: ProcSample): number {
  const wall = (b.atMs - a.atMs) / 1000;
  if (wall <= 0) return 0;
  return Math.round(((b.cpuSeconds - a.cpuSeconds) / wall) * 1000) / 10;
}
