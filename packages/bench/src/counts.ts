/**
 * `bench:compare --count`: repeatable figures on a noisy machine. Each server
 * (raw ws, Socket.IO, Herald: the same harness, clients, publisher and fixed
 * workload for all three) runs a warm-up, then a fixed number of broadcasts /
 * unicast publishes / reliable publishes, and only that measured phase is
 * counted: with `perf stat -p <pid>` (syscalls by tracepoint, context
 * switches, instructions where the CPU has a PMU) or, with --callgrind, under
 * valgrind for user-space instructions. Counts divided by deliveries do not
 * swing with other processes' load the way CPU time does.
 */
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { CallgrindSession, callgrindAvailable, callgrindWrap } from './callgrind.js';
import { countRows, formatCountsTable } from './countsTable.js';
import type { TargetCounts } from './countsTable.js';
import { runScenario, sourceAddresses } from './orchestrator.js';
import type { RunOptions } from './orchestrator.js';
import { CASE_RUN_SETTINGS, intFlag, LIMITS, listFlag, parseFlags, runSourceBase } from './options.js';
import { DEFAULT_OUT_DIR, failedRunsExitCode, noteFailedRun, writeSummaryFiles } from './output.js';
import { PerfSession, probePerf, syscallEvents, TOTAL_SYSCALLS_EVENT } from './perfStat.js';
import type { PerfSupport } from './perfStat.js';
import { createProgress } from './progress.js';
import { awaitQuietMachine, freshCredentials, startTarget } from './serverStart.js';
import type { SpawnedServer } from './spawn.js';
import { heraldBinPath } from './spawn.js';
import { TARGET_KINDS } from './targets/types.js';
import type { TargetKind } from './targets/types.js';

export const COUNTS_HELP = `Usage: node packages/bench/dist/compare.js --count [options]

Repeatable counts: each server (raw ws, Socket.IO 4, Herald; same harness and
clients for all) runs a warm-up, then a FIXED workload; only that measured
phase is counted, per delivery, side by side with the ratio to raw ws.

Counted with perf stat -p <server pid> (default): syscalls (all, and writes,
reads, epoll waits, futex, …) from kernel tracepoints, context switches,
task-clock, and instructions:u/k when the CPU exposes a PMU.
With --callgrind: user-space instructions, the server run under valgrind
--tool=callgrind (about 20–50× slower, so the workload is smaller).

Cases (perf / --callgrind), each after a warm-up of a quarter of its messages:
  broadcast   500 / 200 connections in one room, 100 / 20 broadcasts, closed loop (8 in flight)
  unicast     500 / 200 users, 2,000 / 400 publishes at 500 / 20 per s, "reliable": false
  reliable    Herald only: unicast with "reliable": true (acked); ratios are to raw ws unicast

Options:
  --cases <list>        subset of broadcast,unicast,reliable        (default all)
  --targets <list>      subset of raw,socketio,herald               (default all)
  --scale <x>           multiply connections and messages (0.01–10) (default 1)
  --rate <n>            unicast publishes per second                (default 500; callgrind 20)
  --callgrind           count user-space instructions with callgrind instead of perf
  --server-bin <file>   the herald.js to start (default: $HERALD_BENCH_BIN, else this checkout's)
  --workers <n>         client processes                            (default 2)
  --payload <bytes>     approximate message data size               (default 100)
  --out <dir>           output directory                            (default ${DEFAULT_OUT_DIR})
  --quiet-wait <s>      wait up to this long for a quiet machine before each server (default 10)
  --no-progress         no progress bars
`;

export interface CountCase {
  name: 'broadcast' | 'unicast' | 'reliable';
  scenario: 'broadcast' | 'unicast';
  targets: TargetKind[];
  connections: number;
  messages: number;
  /** Publishes per second; 0 = closed loop (broadcast window). */
  rate: number;
  reliable: boolean;
}

export const COUNT_CASE_NAMES = ['broadcast', 'unicast', 'reliable'] as const;

/** The fixed workloads (see COUNTS_HELP). */
export function countCases(callgrind: boolean, scale = 1, rate?: number): CountCase[] {
  const f = (perf: number, cg: number): number => Math.max(1, Math.round((callgrind ? cg : perf) * scale));
  const r = rate ?? (callgrind ? 20 : 500);
  return [
    { name: 'broadcast', scenario: 'broadcast', targets: [...TARGET_KINDS], connections: f(500, 200), messages: f(100, 20), rate: 0, reliable: false },
    { name: 'unicast', scenario: 'unicast', targets: [...TARGET_KINDS], connections: f(500, 200), messages: f(2000, 400), rate: r, reliable: false },
    { name: 'reliable', scenario: 'unicast', targets: ['herald'], connections: f(500, 200), messages: f(2000, 400), rate: r, reliable: true },
  ];
}

/** A deadline for publishing `messages` (never the limit in practice: the pacer's count ends the phase). */
export function publishDeadlineSec(c: CountCase, callgrind: boolean): number {
  const paced = c.rate > 0 ? Math.ceil(c.messages / c.rate) * 3 : 0;
  return Math.min(LIMITS.durationSec, paced + (callgrind ? 540 : 240));
}

const COUNT_FLAGS = ['help', 'count', 'callgrind', 'cases', 'targets', 'scale', 'rate', 'server-bin', 'workers', 'payload', 'out', 'quiet-wait', 'no-progress'] as const;

export interface CountsResult {
  startedAt: string;
  command: string;
  machine: { cpus: number; node: string };
  tool: 'perf' | 'callgrind';
  perf: PerfSupport;
  heraldBin: string;
  cases: Array<CountCase & { counts: Partial<Record<TargetKind, TargetCounts>>; failures: Partial<Record<TargetKind, string>> }>;
  table: string;
}

export async function runCounts(argv: string[]): Promise<number> {
  const values = parseFlags(argv, COUNT_FLAGS);
  if (values.help) {
    process.stdout.write(COUNTS_HELP);
    return 0;
  }
  const useCallgrind = values.callgrind === true;
  const scale = values.scale === undefined ? 1 : Number(values.scale);
  if (!(scale >= 0.01 && scale <= 10)) throw new Error('--scale must be in [0.01, 10]');
  const rate = intFlag('rate', values.rate, 1, LIMITS.rate);
  const workers = intFlag('workers', values.workers, 1, LIMITS.workers) ?? 2;
  const payload = intFlag('payload', values.payload, 0, LIMITS.payloadBytes) ?? 100;
  const quietWaitSec = intFlag('quiet-wait', values['quiet-wait'], 0, 600) ?? 10;
  const targets = listFlag(values.targets, TARGET_KINDS, 'target');
  const wanted = listFlag(values.cases, COUNT_CASE_NAMES, 'case');
  const outDir = resolve(values.out ?? DEFAULT_OUT_DIR);
  const heraldBin = heraldBinPath(values['server-bin']);
  const perf = probePerf();
  if (useCallgrind && !callgrindAvailable()) throw new Error('--callgrind needs valgrind and callgrind_control on PATH');
  if (!useCallgrind && !perf.available) throw new Error(`perf stat is not usable here (${perf.note}); try --callgrind`);
  if (!useCallgrind && perf.note) process.stderr.write(`note: ${perf.note}\n`);
  const events = useCallgrind ? [] : [...(perf.instructions ? ['instructions:u', 'instructions:k'] : []), ...(perf.syscalls ? [TOTAL_SYSCALLS_EVENT, ...syscallEvents()] : []), 'context-switches', 'task-clock'];
  const credentials = freshCredentials();
  const progress = createProgress(values['no-progress'] !== true);
  const result: CountsResult = {
    startedAt: new Date().toISOString(),
    command: `node packages/bench/dist/compare.js ${argv.join(' ')}`.trim(),
    machine: { cpus: cpus().length, node: process.version },
    tool: useCallgrind ? 'callgrind' : 'perf',
    perf,
    heraldBin,
    cases: [],
    table: '',
  };
  let runIndex = 0;
  const failures: string[] = [];
  for (const c of countCases(useCallgrind, scale, rate).filter((x) => wanted.includes(x.name))) {
    const entry: CountsResult['cases'][number] = { ...c, counts: {}, failures: {} };
    result.cases.push(entry);
    for (const target of c.targets.filter((t) => targets.includes(t))) {
      process.stderr.write(`\n== count ${c.name}: ${target} (${c.connections} connections, ${c.messages} messages${useCallgrind ? ', under callgrind' : ''}) ==\n`);
      await awaitQuietMachine(quietWaitSec);
      let server: SpawnedServer | null = null;
      let perfSession: PerfSession | null = null;
      try {
        const label = `${c.name}-${target}`;
        const cgDir = join(outDir, 'callgrind');
        server = await startTarget({
          kind: target,
          credentials,
          outDir,
          heraldBin,
          // Generous: the point of counting is a machine too busy for timings.
          readyTimeoutMs: useCallgrind ? 300_000 : 120_000,
          ...(useCallgrind ? { wrap: callgrindWrap(cgDir, label) } : {}),
          // A fixed workload: Herald's load shedder would read a busy machine's (or callgrind's)
          // event-loop delay as overload and refuse some connections and publishes, which raw ws
          // and Socket.IO never do. Not watching the delay keeps the work equal; its check still runs.
          // Under callgrind, Herald's stricter HTTP deadlines (10 s headers, 30 s request) expire
          // on a 20–50× slower server: it gets node's defaults, which the other two servers use.
          ...(target === 'herald' ? { env: { HERALD_SHED_EVENT_LOOP_DELAY_MS: '0', ...(useCallgrind ? { HERALD_HTTP_HEADERS_TIMEOUT_MS: '60000', HERALD_HTTP_REQUEST_TIMEOUT_MS: '300000' } : {}) } } : {}),
        });
        const base = (messages: number, reliable: boolean): RunOptions => ({
          target,
          scenario: c.scenario,
          url: server?.httpBase ?? '',
          pid: server?.pid as number,
          connections: c.connections,
          workers,
          addresses: sourceAddresses(c.connections, runSourceBase(++runIndex)),
          ...CASE_RUN_SETTINGS,
          connectConcurrency: useCallgrind ? 20 : CASE_RUN_SETTINGS.connectConcurrency,
          maxMessages: messages,
          rate: c.rate,
          inFlight: 64,
          // A fixed workload: a starved publisher catches up (64 requests in flight at most) instead of skipping.
          pacerMaxBacklog: Number.POSITIVE_INFINITY,
          durationSec: publishDeadlineSec(c, useCallgrind),
          payloadBytes: payload,
          reliable,
          holdSec: 0,
          ...credentials,
          // No HTTP probes of the server during the phase: they would be counted as its work.
          heapSource: 'none',
          reportIntervalMs: 250,
          handshakeTimeoutMs: useCallgrind ? 120_000 : 60_000,
          drainTimeoutSec: useCallgrind ? 120 : 30,
          progress,
        });
        // Warm-up (not counted): JIT tiers, pools and caches settle. Not reliable, so
        // no stored message of the warm-up can be resent into the measured phase.
        await runScenario(base(Math.max(10, Math.round(c.messages / 4)), false));
        progress.stop();
        const measured = base(c.messages, c.reliable);
        let instructions: number | undefined;
        if (useCallgrind) {
          const cg = new CallgrindSession(server.pid, cgDir, label);
          measured.onMeasureStart = () => cg.start();
          measured.onMeasureEnd = async () => {
            instructions = await cg.stop();
          };
        } else {
          const session = (perfSession = new PerfSession(server.pid, events));
          measured.onMeasureStart = () => session.enable();
          measured.onMeasureEnd = () => session.disable();
        }
        const report = await runScenario(measured);
        progress.stop();
        const counts: TargetCounts = {
          target,
          held: report.connections.held,
          errors: report.errors,
          published: report.messages.published,
          accepted: report.messages.accepted,
          expectedDeliveries: report.messages.expectedDeliveries,
          delivered: report.messages.delivered,
          phaseSeconds: report.messages.measureSeconds,
        };
        if (perfSession) counts.perf = Object.fromEntries(await perfSession.finish());
        perfSession = null;
        if (instructions !== undefined) counts.callgrindInstructions = instructions;
        entry.counts[target] = counts;
        const errors = Object.entries(counts.errors).map(([k, v]) => `${k}=${v}`).join(', ');
        if (counts.delivered < counts.expectedDeliveries || counts.published < c.messages || counts.accepted < counts.published || counts.held < c.connections) {
          // The workload was not the fixed one: the table shows the counts, which say so.
          process.stderr.write(`!! ${label}: held ${counts.held}/${c.connections} connections, published ${counts.published}/${c.messages} (accepted ${counts.accepted}), delivered ${counts.delivered}/${counts.expectedDeliveries}: not the fixed workload, compare with care${errors ? ` (errors: ${errors})` : ''}\n`);
        }
        process.stderr.write(`   delivered ${counts.delivered} in ${counts.phaseSeconds.toFixed(1)} s${errors ? `; errors: ${errors}` : ''}\n`);
      } catch (e) {
        progress.stop();
        noteFailedRun(entry.failures, target, `count ${c.name} / ${target}`, e);
        failures.push(`${c.name}/${target}: ${(e as Error).message}`);
      } finally {
        if (perfSession) await perfSession.finish();
        if (server) await server.stop();
      }
    }
  }
  const shown = TARGET_KINDS.filter((t) => targets.includes(t));
  result.table = formatCountsTable(countRows(result.cases.map((c) => ({ name: c.name, counts: c.counts }))), shown);
  const notes = [
    `Counted with ${useCallgrind ? 'valgrind --tool=callgrind (user-space instructions, all threads)' : 'perf stat -p <server pid> (all threads)'} over the measured phase only; per delivery; ratios to raw ws (reliable: to raw ws unicast).`,
    ...(perf.note && !useCallgrind ? [`Note: ${perf.note}.`] : []),
    `Herald: ${heraldBin}`,
  ];
  const md = `${result.table}\n\n${notes.join('\n')}`;
  const base = writeSummaryFiles(outDir, useCallgrind ? 'counts-callgrind' : 'counts', result.startedAt, result, md);
  process.stdout.write(`\n${md}\n\nReports: ${base}.json, ${base}.md\n`);
  return failedRunsExitCode(failures);
}
