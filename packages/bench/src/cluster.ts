/**
 * The Redis engine's benchmarks (issue 5), with the same harness and client
 * code path as `bench:compare`:
 *
 * - `unicast` and `broadcast`, side by side in one run, on (a) one Herald node
 *   on the memory engine, (b) one node on the Redis engine, (c) several nodes
 *   on Redis with the devices on the other nodes and the publishes going
 *   through a node that holds none of them (every delivery crosses Redis);
 * - `capacity`: N Herald processes (Redis engine) on this machine hold
 *   45,000 authenticated connections together (idle hold, RSS per process).
 *
 * Every Redis run uses its own key prefix (herald-bench-<random>:) and deletes
 * its keys afterwards. Loopback only (servers, clients and Redis).
 */
import { randomBytes } from 'node:crypto';
import { cpus, totalmem } from 'node:os';
import { resolve } from 'node:path';
import { runScenario, sourceAddresses } from './orchestrator.js';
import type { RunOptions } from './orchestrator.js';
import { DEFAULT_OUT_DIR, failedRunsExitCode, noteFailedRun, writeRunFiles, writeSummaryFiles } from './output.js';
import { ConnectCpuMeter, formatConnectCpu, formatMemory } from './capacityMeters.js';
import type { ConnectCpu, NodeMemoryDelta } from './capacityMeters.js';
import { createProgress } from './progress.js';
import { formatReport } from './report.js';
import type { RunReport, ScenarioName } from './report.js';
import { benchKeyPrefix, deleteKeysWithPrefix, findRedisPid, loopbackRedis } from './redisKeys.js';
import { CASE_RUN_SETTINGS, fixedRunSettings, intFlag, listFlag, parseFlags, runSourceBase } from './options.js';
import { awaitQuietMachine, freshCredentials, startTarget } from './serverStart.js';
import type { SpawnedServer } from './spawn.js';
import { formatValue } from './table.js';
import { runIfMain } from './entry.js';

export type SetupName = 'memory-1' | 'redis-1' | 'redis-cross';
export const SETUPS: readonly SetupName[] = ['memory-1', 'redis-1', 'redis-cross'];
export type ClusterCaseName = 'unicast' | 'broadcast' | 'capacity';
export const CLUSTER_CASES: readonly ClusterCaseName[] = ['unicast', 'broadcast', 'capacity'];

export interface ClusterCase {
  name: ClusterCaseName;
  scenario: ScenarioName;
  connections: number;
  rate: number;
  durationSec: number;
  /** Seconds of the same publishing before the measured phase, reported apart (unicast, broadcast). */
  warmupSec: number;
  holdSec: number;
}

export const CLUSTER_HELP = `Usage: node packages/bench/dist/cluster.js [options]

The Redis engine's benchmarks, with the harness and client code of bench:compare.

Cases (full / --quick):
  unicast     5,000 / 500 users, 5,000 / 500 msg/s for 15 / 5 s, "reliable": false
  broadcast   5,000 / 500 connections in one room, closed loop (8 broadcasts in flight), 15 / 5 s
              each of them, in one run, on three set-ups:
                memory-1     one node, memory engine
                redis-1      one node, Redis engine
                redis-cross  --nodes nodes on Redis; devices round-robin on nodes 2..N and the
                             publishes through node 1, which holds none of them (--mix: devices
                             on every node, so 1/N of the recipients are local to the publish node)
  capacity    --capacity connections (45,000 / 4,500) round-robin over --nodes Herald processes
              on Redis, held --hold s (10 / 3): connections held, connects/s, RSS per process
              and per connection

Options:
  --quick                  scaled-down run
  --cases <list>           subset of unicast,broadcast,capacity           (default all)
  --setups <list>          subset of memory-1,redis-1,redis-cross        (default all)
  --nodes <n>              Herald processes for redis-cross and capacity  (default 3, 2–8)
  --mix                    redis-cross: devices on every node, including the publish node
  --capacity <n>           connections of the capacity case             (default 45000)
  --hold <s>               capacity hold time                           (default 10; quick 3)
  --duration <s>           publishing time per case, seconds            (default 15; quick 5)
  --warmup <s>             publishing before each measured phase, counted apart (default 3; quick 1; 0 = none)
  --client-workers <n>     client processes (raised so each holds ≤ 15,000) (default 2; capacity 3)
  --redis-url <url>        loopback Redis                               (default redis://127.0.0.1:6379)
  --redis-pid <pid>        the Redis server's pid: its CPU is reported, not counted as other load
                           (default: found in /proc by its command line, redis-server <host>:<port>)
  --in-flight <n>          HTTP publish requests in flight              (default 64, as bench:compare)
  --env <K=V>              extra HERALD_* setting for every Herald node (repeatable)
  --cpu-prof               write a V8 CPU profile of every Herald node to <out>/profiles
  --out <dir>              output directory                             (default ${DEFAULT_OUT_DIR})
  --quiet-wait <s>         before each run, wait up to this long for other processes to use < 25% of a core (default 30; 0 = don't)
  --no-progress            no progress bars
  -h, --help               this help
`;

export function clusterCases(quick: boolean, capacity?: number, durationSec?: number, holdSec?: number, warmupSec?: number): ClusterCase[] {
  const dur = durationSec ?? (quick ? 5 : 15);
  const warm = warmupSec ?? (quick ? 1 : 3);
  return [
    { name: 'unicast', scenario: 'unicast', connections: quick ? 500 : 5000, rate: quick ? 500 : 5000, durationSec: dur, warmupSec: warm, holdSec: 0 },
    { name: 'broadcast', scenario: 'broadcast', connections: quick ? 500 : 5000, rate: 0, durationSec: dur, warmupSec: warm, holdSec: 0 },
    { name: 'capacity', scenario: 'idle', connections: capacity ?? (quick ? 4500 : 45_000), rate: 0, durationSec: dur, warmupSec: 0, holdSec: holdSec ?? (quick ? 3 : 10) },
  ];
}

/** Which nodes the devices connect to and which node gets the publishes, for `nodes` started nodes. */
export function placement(setup: SetupName | 'capacity', nodes: number, mix: boolean): { connectTo: number[]; publishVia: number } {
  if (setup === 'memory-1' || setup === 'redis-1') return { connectTo: [0], publishVia: 0 };
  const all = Array.from({ length: nodes }, (_, i) => i);
  if (setup === 'capacity' || mix) return { connectTo: all, publishVia: 0 };
  return { connectTo: all.slice(1), publishVia: 0 };
}

/** Parses repeated --env K=V: only HERALD_* names. */
export function parseEnv(list: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of list) {
    const i = kv.indexOf('=');
    const k = i > 0 ? kv.slice(0, i) : '';
    if (!/^HERALD_[A-Z0-9_]+$/.test(k)) throw new Error(`--env takes HERALD_NAME=value, got "${kv}"`);
    out[k] = kv.slice(i + 1);
  }
  return out;
}

export interface ClusterRow {
  scenario: string;
  metric: string;
  unit: string;
  values: Partial<Record<SetupName, number>>;
}

export const SETUP_LABEL: Record<SetupName, string> = { 'memory-1': '1 node, memory', 'redis-1': '1 node, Redis', 'redis-cross': 'cross-node, Redis' };

export function clusterRows(scenario: string, reports: Partial<Record<SetupName, RunReport>>): ClusterRow[] {
  const rows: ClusterRow[] = [];
  const row = (metric: string, unit: string, f: (r: RunReport) => number | undefined): void => {
    const values: Partial<Record<SetupName, number>> = {};
    for (const s of SETUPS) {
      const r = reports[s];
      const v = r ? f(r) : undefined;
      if (v !== undefined) values[s] = v;
    }
    rows.push({ scenario, metric, unit, values });
  };
  row('deliveries/s', 'msg/s', (r) => r.messages.deliveriesPerSec);
  row('offered publishes/s', 'msg/s', (r) => r.messages.publishPerSec);
  row('delivered / expected', '%', (r) => (r.messages.expectedDeliveries > 0 ? (100 * r.messages.delivered) / r.messages.expectedDeliveries : undefined));
  row('latency p50', 'ms', (r) => r.latencyMs.p50);
  row('latency p99', 'ms', (r) => r.latencyMs.p99);
  row('latency max', 'ms', (r) => r.latencyMs.max);
  row('server CPU, all nodes', '%', (r) => r.server.cpuPercent);
  row('server CPU per delivery', 'µs', (r) => r.server.cpuUsPerDelivery);
  row('connects/s', 'conn/s', (r) => r.connections.connectsPerSec);
  row('Redis server CPU', '%', (r) => r.machine.auxCpuPercent);
  row("other processes' CPU", '%', (r) => r.machine.foreignCpuPercent);
  return rows;
}

/** Markdown table; cross-node cells carry the ratio to 1 node on memory and, for latency, the added ms. */
export function formatClusterTable(rows: ClusterRow[], setups: SetupName[]): string {
  const head = ['scenario', 'figure', ...setups.map((s) => SETUP_LABEL[s])];
  const lines = [head, head.map(() => '---')];
  for (const r of rows) {
    const base = r.values['memory-1'];
    lines.push([
      r.scenario,
      `${r.metric} (${r.unit})`,
      ...setups.map((s) => {
        const v = r.values[s];
        const val = formatValue(v, r.unit);
        if (s === 'memory-1' || v === undefined || base === undefined || base === 0) return val;
        if (r.unit === 'ms') return `${val} (${v - base >= 0 ? '+' : ''}${(v - base).toFixed(2)})`;
        if (r.unit === 'msg/s') return `${val} (${(v / base).toFixed(2)}×)`;
        return val;
      }),
    ]);
  }
  const widths = head.map((_, i) => Math.max(...lines.map((l) => (l[i] ?? '').length)));
  return lines.map((l) => `| ${l.map((c, i) => (c === '---' ? '-'.repeat(widths[i] as number) : c.padEnd(widths[i] as number))).join(' | ')} |`).join('\n');
}

/** Verdict lines against the issue's goal: cross-node ≥ 80% of single-node deliveries/s, ≤ 5 ms added p99. */
export function crossNodeVerdicts(scenario: string, reports: Partial<Record<SetupName, RunReport>>): string[] {
  const cross = reports['redis-cross'];
  if (!cross) return [];
  const out: string[] = [];
  for (const base of ['memory-1', 'redis-1'] as const) {
    const b = reports[base];
    if (!b) continue;
    const ratio = cross.messages.deliveriesPerSec / Math.max(b.messages.deliveriesPerSec, 1e-9);
    const added = cross.latencyMs.p99 - b.latencyMs.p99;
    out.push(
      `${scenario}: cross-node vs ${SETUP_LABEL[base]}: ${(100 * ratio).toFixed(0)}% of deliveries/s (goal ≥ 80%: ${ratio >= 0.8 ? 'met' : 'missed'}), p99 ${added >= 0 ? '+' : ''}${added.toFixed(2)} ms (goal ≤ +5 ms: ${added <= 5 ? 'met' : 'missed'})`,
    );
  }
  return out;
}

export function formatCapacity(r: RunReport): string {
  const lines = ['| node | connections | RSS (MB) | RSS per connection (KB) | heap per connection (KB) |', '|---|---|---|---|---|'];
  for (const p of r.server.processes ?? []) {
    lines.push(
      `| ${p.url} | ${p.connections.toLocaleString('en-US')} | ${formatValue(p.rssBytes === undefined ? undefined : p.rssBytes / 1048576, 'ms')} | ${formatValue(p.rssPerConnectionBytes === undefined ? undefined : p.rssPerConnectionBytes / 1024, 'KB')} | ${formatValue(p.heapPerConnectionBytes === undefined ? undefined : p.heapPerConnectionBytes / 1024, 'KB')} |`,
    );
  }
  lines.push(
    `| all | ${r.connections.held.toLocaleString('en-US')} held of ${r.connections.attempted.toLocaleString('en-US')} (failed ${r.connections.failed}) | ${formatValue(r.server.rssBytes.connected === undefined ? undefined : r.server.rssBytes.connected / 1048576, 'ms')} | ${formatValue(r.server.rssPerConnectionBytes === undefined ? undefined : r.server.rssPerConnectionBytes / 1024, 'KB')} | ${formatValue(r.server.heapPerConnectionBytes === undefined ? undefined : r.server.heapPerConnectionBytes / 1024, 'KB')} |`,
  );
  lines.push('');
  lines.push(`connect rate ${Math.round(r.connections.connectsPerSec).toLocaleString('en-US')}/s over ${r.connections.connectSeconds.toFixed(1)} s (connect p50 ${r.connections.connectLatencyMs.p50} ms, p99 ${r.connections.connectLatencyMs.p99} ms); client processes ${r.params.workers}; source addresses ${r.params.addresses.length}; Redis server CPU ${r.machine.auxCpuPercent ?? 'n/a'}% and other processes' CPU ${r.machine.foreignCpuPercent ?? 'n/a'}% of a core; errors ${Object.entries(r.errors).map(([k, v]) => `${k}=${v}`).join(', ') || 'none'}`);
  return lines.join('\n');
}

interface StartedNodes {
  servers: SpawnedServer[];
  prefix: string | null;
}

/** The flags of bench cluster (see CLUSTER_HELP). */
const CLUSTER_FLAGS = [
  'help', 'quick', 'cases', 'setups', 'nodes', 'mix', 'capacity', 'hold', 'duration', 'warmup', 'client-workers', 'redis-url', 'redis-pid', 'in-flight', 'env',
  'cpu-prof', 'out', 'quiet-wait', 'no-progress',
] as const;

export async function runCluster(argv: string[]): Promise<number> {
  const values = parseFlags(argv, CLUSTER_FLAGS);
  if (values.help) {
    process.stdout.write(CLUSTER_HELP);
    return 0;
  }
  const quick = values.quick === true;
  const nodesN = intFlag('nodes', values.nodes, 2, 8) ?? 3;
  const mix = values.mix === true;
  const redisUrl = values['redis-url'] ?? 'redis://127.0.0.1:6379';
  const redisPid = intFlag('redis-pid', values['redis-pid'], 1, 2 ** 22) ?? findRedisPid(loopbackRedis(redisUrl).port);
  const inFlight = intFlag('in-flight', values['in-flight'], 1, 4096) ?? 64;
  const extraEnv = parseEnv(values.env ?? []);
  const quietWaitSec = intFlag('quiet-wait', values['quiet-wait'], 0, 600) ?? 30;
  const clientWorkers = intFlag('client-workers', values['client-workers'], 1, 16);
  const wantedCases = listFlag(values.cases, CLUSTER_CASES, 'case');
  const setups = listFlag(values.setups, SETUPS, 'set-up');
  const cases = clusterCases(quick, intFlag('capacity', values.capacity, 1, 100_000), intFlag('duration', values.duration, 1, 120), intFlag('hold', values.hold, 0, 600), intFlag('warmup', values.warmup, 0, 60)).filter((c) => wantedCases.includes(c.name));
  const outDir = resolve(values.out ?? DEFAULT_OUT_DIR);
  const credentials = freshCredentials();
  const progress = createProgress(values['no-progress'] !== true);
  const startedAt = new Date().toISOString();
  const results: Array<{ name: string; reports: Partial<Record<SetupName | 'capacity', RunReport>>; failures: Record<string, string>; keysDeleted: Record<string, number>; connectCpu?: ConnectCpu; memory?: NodeMemoryDelta[] }> = [];
  let runIndex = 0;

  const start = async (label: string, engine: 'memory' | 'redis', count: number): Promise<StartedNodes> => {
    const prefix = engine === 'redis' ? benchKeyPrefix(randomBytes(6).toString('hex')) : null;
    const servers: SpawnedServer[] = [];
    try {
      for (let i = 0; i < count; i++) {
        servers.push(
          await startTarget({
            kind: 'herald',
            credentials,
            outDir,
            profile: values['cpu-prof'] ? `cluster-${label}-node${i + 1}` : undefined,
            env: {
              HERALD_ENGINE: engine,
              HERALD_NODE_ID: `bench-${label}-${i + 1}`,
              ...(prefix ? { HERALD_REDIS_URL: redisUrl, HERALD_REDIS_KEY_PREFIX: prefix } : {}),
              ...extraEnv,
            },
          }),
        );
      }
    } catch (e) {
      await Promise.all(servers.map((s) => s.stop()));
      throw e;
    }
    return { servers, prefix };
  };

  for (const c of cases) {
    const entry: (typeof results)[number] = { name: c.name, reports: {}, failures: {}, keysDeleted: {} };
    results.push(entry);
    const runs: Array<SetupName | 'capacity'> = c.name === 'capacity' ? ['capacity'] : setups;
    for (const setup of runs) {
      runIndex++;
      const engine = setup === 'memory-1' ? 'memory' : 'redis';
      const count = setup === 'memory-1' || setup === 'redis-1' ? 1 : nodesN;
      process.stderr.write(`\n== ${c.name}: ${setup} (${c.connections} connections, ${count} node${count > 1 ? 's' : ''}, ${engine}) ==\n`);
      await awaitQuietMachine(quietWaitSec);
      let started: StartedNodes | null = null;
      try {
        started = await start(`${c.name}-${setup}`, engine, count);
        const { connectTo, publishVia } = placement(setup, count, mix);
        const servers = started.servers;
        const publish = servers[publishVia] as SpawnedServer;
        // The capacity case: where the connect burst's CPU goes, per process group (capacityMeters.ts).
        const meter = c.name === 'capacity' ? new ConnectCpuMeter(servers.map((s) => s.pid), redisPid, engine === 'redis' ? redisUrl : undefined, { urls: servers.map((s) => s.httpBase), apiKey: credentials.apiKey }) : undefined;
        const opts: RunOptions = {
          target: 'herald',
          scenario: c.scenario,
          url: publish.httpBase,
          connectUrls: connectTo.map((i) => (servers[i] as SpawnedServer).httpBase),
          nodes: servers.map((s) => ({ url: s.httpBase, pid: s.pid })),
          connections: c.connections,
          workers: clientWorkers ?? (c.name === 'capacity' ? Math.max(2, Math.ceil(c.connections / 15_000)) : 2),
          addresses: sourceAddresses(c.connections, runSourceBase(runIndex)),
          ...CASE_RUN_SETTINGS,
          rate: c.rate,
          inFlight,
          ...(engine === 'redis' && redisPid !== undefined ? { auxPids: [redisPid] } : {}),
          durationSec: c.durationSec,
          warmupSec: c.warmupSec,
          payloadBytes: 100,
          reliable: false,
          holdSec: c.holdSec,
          ...credentials,
          ...fixedRunSettings('herald'),
          progress: meter ? meter.wrap(progress) : progress,
        };
        const report = await runScenario(opts);
        progress.stop();
        if (meter) {
          const cpu = await meter.result(report.connections.held);
          if (cpu) {
            entry.connectCpu = cpu;
            process.stderr.write(`${formatConnectCpu(cpu)}\n`);
          }
          const mem = await meter.memoryResult(servers.map((s) => s.httpBase), (report.server.processes ?? []).map((p) => p.connections));
          if (mem) {
            entry.memory = mem;
            process.stderr.write(`${formatMemory(mem)}\n`);
          }
        }
        writeRunFiles(report, outDir, `cluster-${c.name}-${setup}`);
        entry.reports[setup] = report;
        process.stderr.write(`${formatReport(report)}\n`);
      } catch (e) {
        progress.stop();
        noteFailedRun(entry.failures, setup, `${c.name} / ${setup}`, e);
      } finally {
        if (started) {
          await Promise.all(started.servers.map((s) => s.stop()));
          if (started.prefix) {
            try {
              entry.keysDeleted[setup] = await deleteKeysWithPrefix(redisUrl, started.prefix);
            } catch (e) {
              process.stderr.write(`!! could not delete Redis keys ${started.prefix}*: ${(e as Error).message}\n`);
            }
          }
        }
      }
    }
  }

  const out: string[] = [];
  const tputRows = results.filter((r) => r.name !== 'capacity').flatMap((r) => clusterRows(r.name, r.reports as Partial<Record<SetupName, RunReport>>));
  if (tputRows.length > 0) {
    const cross = placement('redis-cross', nodesN, mix);
    out.push(`Cross-node: ${nodesN} nodes on Redis, devices on node${cross.connectTo.length > 1 ? 's' : ''} ${cross.connectTo.map((i) => i + 1).join(', ')}, publishes through node ${cross.publishVia + 1}. Cells: ratio to 1 node on memory; latency: added ms.`);
    out.push('');
    out.push(formatClusterTable(tputRows, setups));
    out.push('');
    for (const r of results) out.push(...crossNodeVerdicts(r.name, r.reports as Partial<Record<SetupName, RunReport>>));
  }
  const cap = results.find((r) => r.name === 'capacity')?.reports.capacity;
  if (cap) {
    out.push('');
    out.push(`Capacity: ${nodesN} Herald processes on Redis`);
    out.push('');
    out.push(formatCapacity(cap));
    const cpu = results.find((r) => r.name === 'capacity')?.connectCpu;
    if (cpu) out.push('', formatConnectCpu(cpu));
    const mem = results.find((r) => r.name === 'capacity')?.memory;
    if (mem) out.push('', 'Memory apart, before the connect phase and at the end of the hold (Δ per connection):', '', formatMemory(mem));
  }
  const text = out.join('\n');
  const summary = { startedAt, command: `node packages/bench/dist/cluster.js ${argv.join(' ')}`.trim(), machine: { cpus: cpus().length, totalMemBytes: totalmem(), node: process.version }, nodes: nodesN, mix, results };
  const base = writeSummaryFiles(outDir, 'cluster', startedAt, summary, text);
  process.stdout.write(`\n${text}\n\nReports: ${base}.json, ${base}.md\n`);
  return failedRunsExitCode(results.flatMap((r) => Object.entries(r.failures).map(([s, m]) => `${r.name}/${s}: ${m}`)));
}

runIfMain(import.meta.url, 'bench cluster', runCluster, 2);
