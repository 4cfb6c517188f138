/**
 * `npm run bench:compare`: the same harness and client code path against a
 * minimal raw `ws` server (the Node ceiling), Socket.IO 4 and Herald, each
 * started as its own child process (so its RSS and CPU are its own), same N,
 * payload and machine, in one run. Prints one table with ratios to raw ws and
 * writes the JSON of every run plus the table under artifacts/bench/.
 */
import { cpus, totalmem } from 'node:os';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { runScenario, sourceAddresses } from './orchestrator.js';
import type { RunOptions } from './orchestrator.js';
import { DEFAULT_OUT_DIR, failedRunsExitCode, noteFailedRun, writeRunFiles, writeSummaryFiles } from './output.js';
import { createProgress } from './progress.js';
import { formatReport } from './report.js';
import type { RunReport, ScenarioName } from './report.js';
import { CASE_RUN_SETTINGS, fixedRunSettings, intFlag, LIMITS, listFlag, parseFlags, runSourceBase } from './options.js';
import { awaitQuietMachine, freshCredentials, startTarget } from './serverStart.js';
import type { SpawnedServer } from './spawn.js';
import { formatTable, rowsFor, TARGET_LABEL } from './table.js';
import { summariseProfileDir } from './profile.js';
import type { CompareRow } from './table.js';
import { TARGET_KINDS } from './targets/types.js';
import type { TargetKind } from './targets/types.js';
import { runIfMain } from './entry.js';
import { runCounts } from './counts.js';
import { formatGoals, goalVerdicts } from './goals.js';
import type { GoalVerdict } from './goals.js';

export interface CompareCase {
  /** Row label, e.g. "broadcast 5k". */
  name: string;
  scenario: ScenarioName;
  targets: TargetKind[];
  connections: number;
  rate: number;
  durationSec: number;
  /** Seconds of the same publishing before the measured phase, reported apart (broadcast, unicast). */
  warmupSec: number;
  holdSec: number;
  reliable: boolean;
}

export const COMPARE_HELP = `Usage: npm run bench:compare [-- options]
       node packages/bench/dist/compare.js [options]

Runs each scenario against raw ws, Socket.IO 4 and Herald, each server in its
own child process, with the same client code, N, payload and machine, and
prints a table with every figure and its ratio to raw ws.

Cases (full / --quick):
  broadcast    5,000 / 500 connections in one room, closed loop (8 broadcasts in flight), 15 / 5 s
  unicast      5,000 / 500 users, 5,000 / 500 msg/s for 15 / 5 s, "reliable": false
               (both after a warm-up of 3 / 1 s of the same publishing, reported apart)
  reliable     Herald only: the unicast case with "reliable": true (acked), beside reliable=false
  idle         15,000 / 1,500 authenticated connections held 10 / 3 s: RSS and heap per connection

Options:
  --quick                  scaled-down run (about a minute)
  --targets <list>         comma-separated subset of raw,socketio,herald   (default all)
  --cases <list>           comma-separated subset of broadcast,unicast,reliable,idle (default all)
  --scale <x>              multiply every N and rate by x (0.01–1)        (default 1)
  --duration <s>           publishing time per case, seconds            (default 15; quick 5)
  --warmup <s>             publishing before each measured phase, counted apart (default 3; quick 1; 0 = none)
  --payload <bytes>        approximate message data size                (default 100)
  --workers <n>            client processes                             (default 2)
  --cpu-prof               write V8 CPU profiles of each server to <out>/profiles
  --out <dir>              output directory                             (default ${DEFAULT_OUT_DIR})
  --repeat <n>             run each case n times per target, interleaved (unicast with reliable); the table shows the median run (default 1, max 5)
  --quiet-wait <s>         before each run, wait up to this long for other processes to use < 25% of a core (default 30; 0 = don't)
  --server-bin <file>      the herald.js to start (default: $HERALD_BENCH_BIN, else this checkout's)
  --no-progress            no progress bars
  --count                  repeatable counts instead (perf stat / callgrind per delivery): see --count --help
  -h, --help               this help
`;

export function compareCases(quick: boolean, scale: number, durationSec?: number, warmupSec?: number): CompareCase[] {
  const f = (full: number, q: number): number => Math.max(1, Math.round((quick ? q : full) * scale));
  const dur = durationSec ?? (quick ? 5 : 15);
  const warm = warmupSec ?? (quick ? 1 : 3);
  return [
    { name: 'broadcast', scenario: 'broadcast', targets: [...TARGET_KINDS], connections: f(5000, 500), rate: 0, durationSec: dur, warmupSec: warm, holdSec: 0, reliable: false },
    { name: 'unicast', scenario: 'unicast', targets: [...TARGET_KINDS], connections: f(5000, 500), rate: f(5000, 500), durationSec: dur, warmupSec: warm, holdSec: 0, reliable: false },
    { name: 'reliable', scenario: 'unicast', targets: ['herald'], connections: f(5000, 500), rate: f(5000, 500), durationSec: dur, warmupSec: warm, holdSec: 0, reliable: true },
    { name: 'idle', scenario: 'idle', targets: [...TARGET_KINDS], connections: f(15000, 1500), rate: 0, durationSec: dur, warmupSec: 0, holdSec: quick ? 3 : 10, reliable: false },
  ];
}

/** The primary figure of a run, used to pick the median of repeats. */
export function primaryFigure(r: RunReport): number {
  if (r.params.scenario === 'broadcast') return r.messages.deliveriesPerSec;
  if (r.params.scenario === 'unicast') return -r.latencyMs.p99;
  if (r.params.scenario === 'idle') return -(r.server.rssPerConnectionBytes ?? 0);
  return r.connections.connectsPerSec;
}

/** The run whose primary figure is the median (the lower middle for an even count). */
export function medianRun(runs: RunReport[]): RunReport | undefined {
  const sorted = [...runs].sort((a, b) => primaryFigure(a) - primaryFigure(b));
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

export interface CompareResult {
  startedAt: string;
  command: string;
  machine: { cpus: number; totalMemBytes: number; node: string };
  /** `reports` holds the median run per target (what the table shows); `runs` every run. */
  cases: Array<{ name: string; reports: Partial<Record<TargetKind, RunReport>>; runs: Partial<Record<TargetKind, RunReport[]>>; failures: Partial<Record<TargetKind, string>> }>;
  rows: CompareRow[];
  table: string;
  /** The issue-20 goals, judged on this run's median reports. */
  goals: GoalVerdict[];
}

/** The flags of bench:compare (see COMPARE_HELP). */
const COMPARE_FLAGS = ['help', 'quick', 'targets', 'cases', 'scale', 'duration', 'payload', 'workers', 'cpu-prof', 'out', 'no-progress', 'quiet-wait', 'repeat', 'server-bin', 'warmup'] as const;

/**
 * The order of the runs. Repeats are interleaved (raw, socketio, herald, raw, …) so that a burst of
 * foreign load, or the machine's slower spells, hit every target alike; the table shows each
 * target's median run. Unicast and reliable go round together (raw, socketio, herald, herald
 * reliable, raw, …): the reliable goal is a ratio to raw ws's unicast p99, so both are measured
 * in the same spells.
 */
export function runOrder(cases: readonly CompareCase[], targets: readonly TargetKind[], repeat: number): Array<{ c: CompareCase; target: TargetKind }> {
  const groups: CompareCase[][] = [];
  for (const c of cases) {
    const last = groups[groups.length - 1];
    if (c.name === 'reliable' && last?.some((g) => g.name === 'unicast')) last.push(c);
    else groups.push([c]);
  }
  return groups.flatMap((group) =>
    Array.from({ length: repeat }, () => group.flatMap((c) => c.targets.filter((t) => targets.includes(t)).map((target) => ({ c, target })))).flat(),
  );
}

export async function runCompare(argv: string[]): Promise<number> {
  if (argv.includes('--count')) return runCounts(argv.filter((a) => a !== '--count'));
  const values = parseFlags(argv, COMPARE_FLAGS);
  if (values.help) {
    process.stdout.write(COMPARE_HELP);
    return 0;
  }
  const quick = values.quick === true;
  const scale = values.scale === undefined ? 1 : Number(values.scale);
  if (!(scale >= 0.01 && scale <= 1)) throw new Error('--scale must be in [0.01, 1]');
  const duration = intFlag('duration', values.duration, 1, 120);
  const warmup = intFlag('warmup', values.warmup, 0, 60);
  const quietWaitSec = intFlag('quiet-wait', values['quiet-wait'], 0, 600) ?? 30;
  const repeat = intFlag('repeat', values.repeat, 1, 5) ?? 1;
  const payload = intFlag('payload', values.payload, 0, LIMITS.payloadBytes) ?? 100;
  const workers = intFlag('workers', values.workers, 1, LIMITS.workers) ?? 2;
  const targets = listFlag(values.targets, TARGET_KINDS, 'target');
  const wanted = values.cases?.split(',');
  const outDir = resolve(values.out ?? DEFAULT_OUT_DIR);
  const cases = compareCases(quick, scale, duration, warmup).filter((c) => !wanted || wanted.includes(c.name));
  const credentials = freshCredentials();
  const progress = createProgress(values['no-progress'] !== true);
  const result: CompareResult = {
    startedAt: new Date().toISOString(),
    command: `node packages/bench/dist/compare.js ${argv.join(' ')}`.trim(),
    machine: { cpus: cpus().length, totalMemBytes: totalmem(), node: process.version },
    cases: [],
    rows: [],
    table: '',
    goals: [],
  };
  const entries = new Map<string, CompareResult['cases'][number]>();
  for (const c of cases) {
    const entry: CompareResult['cases'][number] = { name: c.name, reports: {}, failures: {}, runs: {} };
    entries.set(c.name, entry);
    result.cases.push(entry);
  }
  let runIndex = 0;
  for (const { c, target } of runOrder(cases, targets, repeat)) {
    const entry = entries.get(c.name)!;
    runIndex++;
    process.stderr.write(`\n== ${c.name}: ${target} (${c.connections} connections) ==\n`);
    await awaitQuietMachine(quietWaitSec);
    let server: SpawnedServer | null = null;
    try {
      server = await startTarget({ kind: target, credentials, outDir, heraldBin: values['server-bin'], profile: values['cpu-prof'] ? `${c.name}-${target}` : undefined });
      const opts: RunOptions = {
        target,
        scenario: c.scenario,
        url: server.httpBase,
        pid: server.pid,
        connections: c.connections,
        workers,
        addresses: sourceAddresses(c.connections, runSourceBase(runIndex)),
        ...CASE_RUN_SETTINGS,
        rate: c.rate,
        inFlight: 64,
        durationSec: c.durationSec,
        warmupSec: c.warmupSec,
        payloadBytes: payload,
        reliable: c.reliable,
        holdSec: c.holdSec,
        ...credentials,
        ...fixedRunSettings(target),
        progress,
      };
      const report = await runScenario(opts);
      progress.stop();
      await server.stop();
      server = null;
      writeRunFiles(report, outDir, `compare-${c.name}-${target}`);
      (entry.runs[target] ??= []).push(report);
      entry.reports[target] = medianRun(entry.runs[target] ?? []);
      process.stderr.write(`${formatReport(report)}\n`);
    } catch (e) {
      progress.stop();
      noteFailedRun(entry.failures, target, `${c.name} / ${target}`, e);
    } finally {
      if (server) await server.stop();
    }
  }
  for (const c of cases) result.rows.push(...rowsFor(c.name, entries.get(c.name)!.reports));
  const shown = TARGET_KINDS.filter((t) => targets.includes(t));
  result.table = formatTable(result.rows, shown);
  result.goals = goalVerdicts(Object.fromEntries(result.cases.map((c) => [c.name, c.reports])));
  const goals = formatGoals(result.goals);
  const base = writeSummaryFiles(outDir, 'compare', result.startedAt, result, `${result.table}\n\nRatios are to raw ws.\n\n${goals}`);
  process.stdout.write(`\n${result.table}\n\nRatios are to raw ws.\n\n${goals}\n\nReports: ${base}.json, ${base}.md\n`);
  if (values['cpu-prof']) {
    // Every target is profiled alike; one markdown summary of all of them.
    const summaries = result.cases.flatMap((c) => shown.map((t) => summariseProfileDir(join(outDir, 'profiles', `${c.name}-${t}`), `${c.name}: ${TARGET_LABEL[t]}`))).filter((m) => m !== '');
    if (summaries.length > 0) {
      writeFileSync(`${base}-profiles.md`, `## CPU profiles: self time by function, package and file\n\n${summaries.join('\n')}`);
      process.stdout.write(`Profile summaries: ${base}-profiles.md\n`);
    }
  }
  return failedRunsExitCode(result.cases.flatMap((c) => Object.entries(c.failures).map(([t, m]) => `${c.name}/${t}: ${m}`)));
}

runIfMain(import.meta.url, 'bench:compare', runCompare, 2);
