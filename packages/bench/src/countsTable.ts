/**
 * The table of `bench:compare --count`: exact event counts of each server in
 * the measured phase of a fixed workload, divided by the deliveries it made,
 * side by side with the ratio to raw ws. The reliable case (Herald only) is
 * compared with raw ws's unicast, as the goal is.
 */
import { SYSCALL_GROUPS, TOTAL_SYSCALLS_EVENT } from './perfStat.js';
import { TARGET_LABEL } from './table.js';
import type { TargetKind } from './targets/types.js';

/** What one server did in the measured phase of one case. */
export interface TargetCounts {
  target: TargetKind;
  /** Connections open when the phase ended (the workload's fan-out), and errors the clients saw. */
  held: number;
  errors: Record<string, number>;
  published: number;
  accepted: number;
  expectedDeliveries: number;
  delivered: number;
  phaseSeconds: number;
  /** perf stat counts by event (null: perf could not count it). */
  perf?: Record<string, number | null>;
  /** User-space instructions from callgrind (all threads). */
  callgrindInstructions?: number;
}

export interface CountRow {
  case: string;
  figure: string;
  values: Partial<Record<TargetKind, number>>;
  /** The raw ws value ratios are taken to (raw's own, or raw unicast's for the reliable case). */
  base?: number;
  /** Absolute counts (not per delivery) are shown without ratio. */
  absolute?: boolean;
}

/** The case whose raw ws figures a case is compared with. */
export function baseCaseOf(name: string): string {
  return name === 'reliable' ? 'unicast' : name;
}

type Figure = { name: string; of: (c: TargetCounts) => number | undefined };

function perfSum(c: TargetCounts, events: readonly string[]): number | undefined {
  if (!c.perf) return undefined;
  let sum = 0;
  let any = false;
  for (const e of events) {
    const v = c.perf[e];
    if (typeof v === 'number') {
      sum += v;
      any = true;
    }
  }
  return any ? sum : undefined;
}

/** Per-delivery figures, in table order. */
export const FIGURES: Figure[] = [
  { name: 'user instructions (perf)', of: (c) => perfSum(c, ['instructions:u']) },
  { name: 'kernel instructions (perf)', of: (c) => perfSum(c, ['instructions:k']) },
  { name: 'user instructions (callgrind)', of: (c) => c.callgrindInstructions },
  { name: 'syscalls (all)', of: (c) => perfSum(c, [TOTAL_SYSCALLS_EVENT]) },
  ...Object.entries(SYSCALL_GROUPS).map(([g, names]) => ({ name: `syscalls: ${g}`, of: (c: TargetCounts) => perfSum(c, names.map((n) => `syscalls:sys_enter_${n}`)) })),
  { name: 'context switches', of: (c) => perfSum(c, ['context-switches']) },
  { name: 'CPU µs (task-clock; noisy, not a count)', of: (c) => { const ms = perfSum(c, ['task-clock']); return ms === undefined ? undefined : ms * 1000; } },
];

/** Rows for every case: the workload actually run, then each figure per delivery (rows nobody measured are left out). */
export function countRows(results: Array<{ name: string; counts: Partial<Record<TargetKind, TargetCounts>> }>): CountRow[] {
  const byName = new Map(results.map((r) => [r.name, r.counts]));
  const rows: CountRow[] = [];
  for (const r of results) {
    const all = Object.values(r.counts);
    rows.push({ case: r.name, figure: 'connections held', values: pick(r.counts, (c) => c.held), absolute: true });
    rows.push({ case: r.name, figure: 'published', values: pick(r.counts, (c) => c.published), absolute: true });
    rows.push({ case: r.name, figure: 'accepted', values: pick(r.counts, (c) => c.accepted), absolute: true });
    rows.push({ case: r.name, figure: 'delivered', values: pick(r.counts, (c) => c.delivered), absolute: true });
    const baseCounts = byName.get(baseCaseOf(r.name))?.raw;
    for (const f of FIGURES) {
      if (!all.some((c) => c !== undefined && f.of(c) !== undefined)) continue;
      const per = (c: TargetCounts): number | undefined => {
        const v = f.of(c);
        return v === undefined || c.delivered <= 0 ? undefined : v / c.delivered;
      };
      const row: CountRow = { case: r.name, figure: f.name, values: pick(r.counts, per) };
      const base = baseCounts ? per(baseCounts) : undefined;
      if (base !== undefined) row.base = base;
      rows.push(row);
    }
  }
  return rows;
}

function pick(counts: Partial<Record<TargetKind, TargetCounts>>, f: (c: TargetCounts) => number | undefined): Partial<Record<TargetKind, number>> {
  const out: Partial<Record<TargetKind, number>> = {};
  for (const [k, c] of Object.entries(counts) as Array<[TargetKind, TargetCounts | undefined]>) {
    const v = c ? f(c) : undefined;
    if (v !== undefined && Number.isFinite(v)) out[k] = v;
  }
  return out;
}

/** Three significant figures below 100, whole numbers with separators above. */
export function formatCount(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return 'n/a';
  if (Math.abs(v) >= 100) return Math.round(v).toLocaleString('en-US');
  if (v === 0) return '0';
  return Number(v.toPrecision(3)).toString();
}

/** Markdown table: one row per case and figure, one column per target, "value (ratio×)". */
export function formatCountsTable(rows: CountRow[], targets: TargetKind[]): string {
  const head = ['case', 'per delivery', ...targets.map((t) => TARGET_LABEL[t])];
  const lines: string[][] = [head, head.map(() => '---')];
  for (const r of rows) {
    const reliableBase = r.case !== baseCaseOf(r.case);
    lines.push([
      r.case,
      r.absolute ? `${r.figure} (count)` : r.figure,
      ...targets.map((t) => {
        const v = r.values[t];
        if (t === 'raw' && reliableBase && !r.absolute) return r.base === undefined ? 'n/a' : `unicast: ${formatCount(r.base)}`;
        if (v === undefined) return r.absolute ? '' : 'n/a';
        const val = formatCount(v);
        if (r.absolute || t === 'raw' || r.base === undefined || r.base === 0) return val;
        return `${val} (${(v / r.base).toFixed(2)}×)`;
      }),
    ]);
  }
  const widths = head.map((_, i) => Math.max(...lines.map((l) => (l[i] ?? '').length)));
  return lines.map((l) => `| ${l.map((c, i) => (c === '---' ? '-'.repeat(widths[i] as number) : c.padEnd(widths[i] as number))).join(' | ')} |`).join('\n');
}
