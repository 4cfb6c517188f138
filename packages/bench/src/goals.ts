/**
 * The performance goals of issue 20, checked on one `bench:compare` run: each
 * is a ratio of Herald's figure to raw ws's (or Socket.IO's) from the same
 * run, since only ratios within one run mean anything on a shared machine.
 */
import type { RunReport } from './report.js';
import { TARGET_LABEL } from './table.js';
import type { TargetKind } from './targets/types.js';

export interface Goal {
  /** Short name, e.g. "broadcast deliveries/s vs raw ws". */
  name: string;
  /** Case whose Herald report gives the figure. */
  case: string;
  /** Case and target of the reference figure. */
  baseCase: string;
  baseTarget: TargetKind;
  figure: (r: RunReport) => number | undefined;
  /** 'min': Herald / base must be ≥ limit; 'max': ≤ limit. */
  kind: 'min' | 'max';
  limit: number;
}

const p50 = (r: RunReport): number | undefined => (r.latencyMs.count > 0 ? r.latencyMs.p50 : undefined);
const p99 = (r: RunReport): number | undefined => (r.latencyMs.count > 0 ? r.latencyMs.p99 : undefined);

export const ISSUE20_GOALS: Goal[] = [
  { name: 'broadcast deliveries/s', case: 'broadcast', baseCase: 'broadcast', baseTarget: 'raw', figure: (r) => r.messages.deliveriesPerSec, kind: 'min', limit: 1.5 },
  { name: 'broadcast deliveries/s', case: 'broadcast', baseCase: 'broadcast', baseTarget: 'socketio', figure: (r) => r.messages.deliveriesPerSec, kind: 'min', limit: 2 },
  { name: 'unicast server CPU per delivery', case: 'unicast', baseCase: 'unicast', baseTarget: 'raw', figure: (r) => r.server.cpuUsPerDelivery, kind: 'max', limit: 1.2 },
  { name: 'unicast latency p50', case: 'unicast', baseCase: 'unicast', baseTarget: 'raw', figure: p50, kind: 'max', limit: 2 },
  { name: 'unicast latency p99', case: 'unicast', baseCase: 'unicast', baseTarget: 'raw', figure: p99, kind: 'max', limit: 1.3 },
  { name: 'reliable latency p99', case: 'reliable', baseCase: 'unicast', baseTarget: 'raw', figure: p99, kind: 'max', limit: 1.6 },
  { name: 'idle RSS per connection', case: 'idle', baseCase: 'idle', baseTarget: 'raw', figure: (r) => r.server.rssPerConnectionBytes, kind: 'max', limit: 1.05 },
];

export interface GoalVerdict {
  goal: string;
  /** e.g. "≥ 1.5× raw ws". */
  target: string;
  herald?: number;
  base?: number;
  ratio?: number;
  status: 'met' | 'missed' | 'n/a';
  /** Why n/a, e.g. "needs socketio". */
  note?: string;
  line: string;
}

export type ReportsByCase = Record<string, Partial<Record<TargetKind, RunReport>> | undefined>;

const finite = (v: number | undefined): v is number => v !== undefined && Number.isFinite(v);

/** One verdict per goal; a goal whose Herald or reference run is missing (or failed) is n/a and says what it needs. */
export function goalVerdicts(reports: ReportsByCase, goals: Goal[] = ISSUE20_GOALS): GoalVerdict[] {
  return goals.map((g) => {
    const target = `${g.kind === 'min' ? '≥' : '≤'} ${g.limit}× ${TARGET_LABEL[g.baseTarget]}${g.baseCase !== g.case ? ` ${g.baseCase}` : ''}`;
    const heraldReport = reports[g.case]?.herald;
    const baseReport = reports[g.baseCase]?.[g.baseTarget];
    const herald = heraldReport ? g.figure(heraldReport) : undefined;
    const base = baseReport ? g.figure(baseReport) : undefined;
    const label = `${g.name} vs ${TARGET_LABEL[g.baseTarget]}`;
    const missing = [...(finite(herald) ? [] : [`herald ${g.case}`]), ...(finite(base) ? [] : [`${g.baseTarget}${g.baseCase !== g.case ? ` ${g.baseCase}` : ''}`])];
    if (missing.length > 0 || !finite(herald) || !finite(base) || base === 0) {
      const note = `needs ${missing.length > 0 ? missing.join(' and ') : `a non-zero ${g.baseTarget} figure`}`;
      return { goal: label, target, status: 'n/a', note, line: `${label}: goal ${target}: n/a (${note})` };
    }
    const ratio = herald / base;
    const ok = g.kind === 'min' ? ratio >= g.limit : ratio <= g.limit;
    const status = ok ? 'met' : 'missed';
    return { goal: label, target, herald, base, ratio, status, line: `${label}: Herald ${ratio.toFixed(2)}× (goal ${target}: ${status})` };
  });
}

/** The verdict lines under a heading, for the terminal and the markdown report. */
export function formatGoals(verdicts: GoalVerdict[]): string {
  const met = verdicts.filter((v) => v.status === 'met').length;
  const judged = verdicts.filter((v) => v.status !== 'n/a').length;
  return [`Goals (issue 20), ${met} of ${judged} judged met:`, ...verdicts.map((v) => `- ${v.line}`)].join('\n');
}
