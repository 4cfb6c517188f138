/**
 * The side-by-side table of `bench:compare`: one row per figure, one column
 * per target, each cell with its ratio to raw ws (the Node ceiling).
 */
import type { RunReport } from './report.js';
import type { TargetKind } from './targets/types.js';

export interface CompareRow {
  scenario: string;
  metric: string;
  unit: string;
  /** true when higher is better (only affects the note, not the ratio). */
  higherIsBetter: boolean;
  values: Partial<Record<TargetKind, number>>;
}

export const TARGET_LABEL: Record<TargetKind, string> = { raw: 'raw ws', socketio: 'Socket.IO 4', herald: 'Herald' };

export function formatValue(v: number | undefined, unit: string): string {
  if (v === undefined || !Number.isFinite(v)) return 'n/a';
  if (unit === 'ms' || unit === 'µs') return v.toFixed(2);
  if (unit === 'KB') return v.toFixed(2);
  if (unit === '%') return v.toFixed(0);
  return Math.round(v).toLocaleString('en-US');
}

export function ratio(v: number | undefined, base: number | undefined): string {
  if (v === undefined || base === undefined || !Number.isFinite(v) || !Number.isFinite(base) || base === 0) return '';
  return `${(v / base).toFixed(2)}×`;
}

/** Rows of figures extracted from one scenario's reports (keyed by target). */
export function rowsFor(scenario: string, reports: Partial<Record<TargetKind, RunReport>>): CompareRow[] {
  const pick = (f: (r: RunReport) => number | undefined): Partial<Record<TargetKind, number>> => {
    const out: Partial<Record<TargetKind, number>> = {};
    for (const [k, r] of Object.entries(reports) as Array<[TargetKind, RunReport | undefined]>) {
      if (!r) continue;
      const v = f(r);
      if (v !== undefined) out[k] = v;
    }
    return out;
  };
  const rows: CompareRow[] = [];
  const row = (metric: string, unit: string, higherIsBetter: boolean, f: (r: RunReport) => number | undefined): void => {
    rows.push({ scenario, metric, unit, higherIsBetter, values: pick(f) });
  };
  const any = Object.values(reports).find((r) => r !== undefined);
  const kind = any?.params.scenario;
  if (kind === 'broadcast' || kind === 'unicast') {
    row('deliveries/s', 'msg/s', true, (r) => r.messages.deliveriesPerSec);
    row('delivered / expected', '%', true, (r) => (r.messages.expectedDeliveries > 0 ? (100 * r.messages.delivered) / r.messages.expectedDeliveries : undefined));
    row('latency p50', 'ms', false, (r) => r.latencyMs.p50);
    row('latency p99', 'ms', false, (r) => r.latencyMs.p99);
    row('latency max', 'ms', false, (r) => r.latencyMs.max);
    row('warm-up latency p99 (not in the above)', 'ms', false, (r) => r.warmup?.latencyMs.p99);
    row('server CPU', '%', false, (r) => r.server.cpuPercent);
    row('server CPU per delivery', 'µs', false, (r) => r.server.cpuUsPerDelivery);
  }
  if (kind === 'idle') {
    row('RSS per connection', 'KB', false, (r) => (r.server.rssPerConnectionBytes === undefined ? undefined : r.server.rssPerConnectionBytes / 1024));
    row('heap per connection', 'KB', false, (r) => (r.server.heapPerConnectionBytes === undefined ? undefined : r.server.heapPerConnectionBytes / 1024));
    row('connections held', 'conns', true, (r) => r.connections.held);
  }
  row('connects/s', 'conn/s', true, (r) => r.connections.connectsPerSec);
  row('other processes\' CPU', '%', false, (r) => r.machine.foreignCpuPercent);
  return rows;
}

/** Markdown table (also readable as plain text on a terminal). */
export function formatTable(rows: CompareRow[], targets: TargetKind[]): string {
  const head = ['scenario', 'figure', ...targets.map((t) => TARGET_LABEL[t])];
  const lines = [head, head.map(() => '---')];
  for (const r of rows) {
    const base = r.values.raw;
    lines.push([
      r.scenario,
      `${r.metric} (${r.unit})`,
      ...targets.map((t) => {
        const v = r.values[t];
        const val = formatValue(v, r.unit);
        // Ratios of percentages of completion or of foreign load mean nothing.
        const rat = t === 'raw' || r.unit === '%' && !r.metric.startsWith('server') ? '' : ratio(v, base);
        return rat ? `${val} (${rat})` : val;
      }),
    ]);
  }
  const widths = head.map((_, i) => Math.max(...lines.map((l) => (l[i] ?? '').length)));
  return lines.map((l) => `| ${l.map((c, i) => (c === '---' ? '-'.repeat(widths[i] as number) : c.padEnd(widths[i] as number))).join(' | ')} |`).join('\n');
}
