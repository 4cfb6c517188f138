/**
 * Report model and the aggregation of client-process ticks into totals and a
 * per-second timeline. Latency histograms arrive as deltas and are added, so
 * totals are exact and the histogram count equals the deliveries counted.
 */
import { createHistogram, decodeHistogram, summarize } from './histogram.js';
import type { Histogram, LatencySummary } from './histogram.js';
import type { Tick } from './ipc.js';
import type { TargetKind } from './targets/types.js';

export type ScenarioName = 'broadcast' | 'unicast' | 'storm' | 'idle';
export const SCENARIOS: readonly ScenarioName[] = ['broadcast', 'unicast', 'storm', 'idle'];

export interface RunParams {
  target: TargetKind;
  scenario: ScenarioName;
  url: string;
  connections: number;
  workers: number;
  addresses: string[];
  rooms: number;
  /** Publishes per second; 0 = closed loop (broadcast window). */
  rate: number;
  /** Broadcasts in flight (published, not yet delivered to every member). */
  window: number;
  durationSec: number;
  maxMessages: number;
  payloadBytes: number;
  reliable: boolean;
  connectConcurrency: number;
  holdSec: number;
  inFlight: number;
  /**
   * Broadcast and unicast: seconds of the same publishing before the measured
   * phase, drained and reported apart (`RunReport.warmup`); absent or 0: none.
   */
  warmupSec?: number;
}

/** The warm-up's own figures: not in the measured ones. */
export interface WarmupFigures {
  seconds: number;
  published: number;
  expectedDeliveries: number;
  delivered: number;
  latencyMs: LatencySummary;
}

export interface TimelinePoint {
  /** Seconds since the measurement started (bucket start). */
  t: number;
  deliveriesPerSec: number;
  p50Ms: number;
  p99Ms: number;
  open: number;
  serverCpuPercent?: number;
  serverRssMb?: number;
}

export interface ServerFigures {
  pid?: number;
  rssBytes: { baseline?: number; connected?: number; peak?: number; end?: number };
  heapUsedBytes: { baseline?: number; connected?: number; end?: number };
  /** Average CPU of the server during the measured phase, % of one core. */
  cpuPercent?: number;
  /** Server CPU seconds (user+system) spent in the measured phase. */
  cpuSeconds?: number;
  /** Server CPU per delivered message, µs: the server's efficiency, independent of how fast the clients could read. */
  cpuUsPerDelivery?: number;
  /** (RSS with connections − baseline) / connections held. */
  rssPerConnectionBytes?: number;
  heapPerConnectionBytes?: number;
  /** Several nodes (idle scenario): each server process, with the connections it held (round-robin spread) and its own figures. */
  processes?: Array<{ url: string; pid?: number; connections: number; rssBytes?: number; heapUsedBytes?: number; rssPerConnectionBytes?: number; heapPerConnectionBytes?: number }>;
}

export interface RunReport {
  tool: 'herald-bench';
  startedAt: string;
  params: RunParams;
  machine: {
    cpus: number;
    totalMemBytes: number;
    node: string;
    platform: string;
    /** CPU used by processes other than the server and the bench during the measured phase, % of one core. */
    foreignCpuPercent?: number;
    /** CPU of auxiliary processes of the system under test (the Redis server) in the measured phase, % of one core; not in foreignCpuPercent. */
    auxCpuPercent?: number;
    loadAvg1Start?: number;
    loadAvg1End?: number;
  };
  connections: {
    attempted: number;
    held: number;
    failed: number;
    connectSeconds: number;
    connectsPerSec: number;
    connectLatencyMs: LatencySummary;
  };
  messages: {
    published: number;
    accepted: number;
    skipped: number;
    expectedDeliveries: number;
    delivered: number;
    duplicates: number;
    lost: number;
    measureSeconds: number;
    publishPerSec: number;
    deliveriesPerSec: number;
  };
  latencyMs: LatencySummary;
  warmup?: WarmupFigures;
  errors: Record<string, number>;
  server: ServerFigures;
  timeline: TimelinePoint[];
  files?: { json: string; html: string };
}

interface Bucket {
  deliveries: number;
  hist: Histogram;
  open: number;
}

export class TickAggregator {
  readonly total: Histogram = createHistogram();
  delivered = 0;
  duplicates = 0;
  readonly errors: Record<string, number> = {};
  private readonly buckets = new Map<number, Bucket>();
  private readonly openByWorker = new Map<number, number>();
  private readonly completedByWorker = new Map<number, number>();
  private originMs = 0;
  private measuring = false;

  constructor(private readonly workers: number) {}

  /** Deliveries and latencies are only counted from here on; errors always are. */
  startMeasuring(atMs: number): void {
    this.originMs = atMs;
    this.measuring = true;
  }

  /** Forgets deliveries, duplicates and latencies (after a warm-up); errors are kept. */
  reset(): void {
    this.total.reset();
    this.buckets.clear();
    this.delivered = 0;
    this.duplicates = 0;
    this.measuring = false;
  }

  add(t: Tick, atMs: number): void {
    this.openByWorker.set(t.workerId, t.open);
    this.completedByWorker.set(t.workerId, t.completed);
    for (const [k, v] of Object.entries(t.errors)) this.errors[k] = (this.errors[k] ?? 0) + v;
    if (!this.measuring) return;
    this.delivered += t.deliveries;
    this.duplicates += t.duplicates;
    const sec = Math.max(0, Math.floor((atMs - this.originMs) / 1000));
    let b = this.buckets.get(sec);
    if (!b) this.buckets.set(sec, (b = { deliveries: 0, hist: createHistogram(), open: 0 }));
    b.deliveries += t.deliveries;
    b.open = this.open;
    if (t.hist) {
      const h = decodeHistogram(t.hist);
      this.total.add(h);
      b.hist.add(h);
    }
  }

  setCompleted(workerId: number, completed: number): void {
    this.completedByWorker.set(workerId, completed);
  }

  get open(): number {
    let n = 0;
    for (const v of this.openByWorker.values()) n += v;
    return n;
  }

  /** Broadcasts every worker has seen delivered to all its members (min over workers). */
  get completed(): number {
    if (this.completedByWorker.size < this.workers) return 0;
    let m = Number.POSITIVE_INFINITY;
    for (const v of this.completedByWorker.values()) m = Math.min(m, v);
    return m;
  }

  timeline(server: Map<number, { cpu?: number; rssMb?: number }> = new Map()): TimelinePoint[] {
    const secs = [...this.buckets.keys()].sort((a, b) => a - b);
    return secs.map((s) => {
      const b = this.buckets.get(s) as Bucket;
      const p: TimelinePoint = {
        t: s,
        deliveriesPerSec: b.deliveries,
        p50Ms: b.hist.totalCount ? b.hist.getValueAtPercentile(50) / 1000 : 0,
        p99Ms: b.hist.totalCount ? b.hist.getValueAtPercentile(99) / 1000 : 0,
        open: b.open,
      };
      const sv = server.get(s);
      if (sv?.cpu !== undefined) p.serverCpuPercent = sv.cpu;
      if (sv?.rssMb !== undefined) p.serverRssMb = sv.rssMb;
      return p;
    });
  }

  latency(): LatencySummary {
    return summarize(this.total);
  }
}

const fmtInt = (n: number): string => Math.round(n).toLocaleString('en-US');
const kb = (b: number | undefined): string => (b === undefined ? 'n/a' : `${(b / 1024).toFixed(2)} KB`);
const mb = (b: number | undefined): string => (b === undefined ? 'n/a' : `${(b / 1048576).toFixed(1)} MB`);

/** Human-readable summary of one run. */
export function formatReport(r: RunReport): string {
  const p = r.params;
  const lines: string[] = [];
  lines.push(`herald bench — ${p.scenario} against ${p.target} at ${p.url}`);
  lines.push(`  connections held   ${fmtInt(r.connections.held)} / ${fmtInt(r.connections.attempted)} (failed ${fmtInt(r.connections.failed)})`);
  lines.push(`  connect rate       ${fmtInt(r.connections.connectsPerSec)} /s over ${r.connections.connectSeconds.toFixed(2)} s (connect p50 ${r.connections.connectLatencyMs.p50} ms, p99 ${r.connections.connectLatencyMs.p99} ms)`);
  if (p.scenario === 'broadcast' || p.scenario === 'unicast') {
    const w = r.warmup;
    if (w) {
      const wl = w.latencyMs;
      lines.push(`  warm-up (apart)    ${w.seconds} s: ${fmtInt(w.delivered)} / ${fmtInt(w.expectedDeliveries)} delivered, p50 ${wl.p50} ms  p99 ${wl.p99} ms  max ${wl.max} ms`);
    }
    const m = r.messages;
    lines.push(`  published          ${fmtInt(m.published)} (accepted ${fmtInt(m.accepted)}, skipped by pacer ${fmtInt(m.skipped)}) at ${fmtInt(m.publishPerSec)} /s`);
    lines.push(`  delivered          ${fmtInt(m.delivered)} / ${fmtInt(m.expectedDeliveries)} expected (lost ${fmtInt(m.lost)}, duplicates ${fmtInt(m.duplicates)})`);
    lines.push(`  deliveries/s       ${fmtInt(m.deliveriesPerSec)} over ${m.measureSeconds.toFixed(2)} s`);
    const l = r.latencyMs;
    lines.push(`  publish→deliver    p50 ${l.p50} ms  p90 ${l.p90} ms  p99 ${l.p99} ms  max ${l.max} ms  (n=${fmtInt(l.count)})`);
  }
  const s = r.server;
  lines.push(`  server RSS         baseline ${mb(s.rssBytes.baseline)}, connected ${mb(s.rssBytes.connected)}, peak ${mb(s.rssBytes.peak)}`);
  if (s.rssPerConnectionBytes !== undefined) lines.push(`  per connection     RSS ${kb(s.rssPerConnectionBytes)}, heap ${kb(s.heapPerConnectionBytes)}`);
  for (const n of s.processes ?? []) lines.push(`  node ${n.url}${n.pid !== undefined ? ` (pid ${n.pid})` : ''}: ${fmtInt(n.connections)} connections, RSS ${mb(n.rssBytes)}, per connection RSS ${kb(n.rssPerConnectionBytes)}, heap ${kb(n.heapPerConnectionBytes)}`);
  if (s.cpuPercent !== undefined) lines.push(`  server CPU         ${s.cpuPercent}% of one core (measured phase)${s.cpuUsPerDelivery !== undefined ? `, ${s.cpuUsPerDelivery.toFixed(2)} µs per delivery` : ''}`);
  if (r.machine.auxCpuPercent !== undefined) lines.push(`  Redis server CPU   ${r.machine.auxCpuPercent}% of one core (measured phase; not counted as other load)`);
  if (r.machine.foreignCpuPercent !== undefined) lines.push(`  other load         ${r.machine.foreignCpuPercent}% of one core used by other processes (load avg ${r.machine.loadAvg1Start?.toFixed(1)} → ${r.machine.loadAvg1End?.toFixed(1)})`);
  const errs = Object.entries(r.errors);
  lines.push(`  errors             ${errs.length === 0 ? 'none' : errs.map(([k, v]) => `${k}=${v}`).join(', ')}`);
  if (r.files) lines.push(`  report             ${r.files.json}\n  chart              ${r.files.html}`);
  return lines.join('\n');
}
