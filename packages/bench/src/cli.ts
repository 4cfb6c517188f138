/**
 * `herald bench`: one scenario against one target. The server CLI calls
 * runBenchCli(argv); `node packages/bench/dist/cli.js ...` runs it directly.
 */
import { assertLoopbackUrl, NonLoopbackTargetError } from './guard.js';
import { runScenario, sourceAddresses, MAX_CONNECTIONS_PER_WORKER } from './orchestrator.js';
import type { RunOptions } from './orchestrator.js';
import { DEFAULT_OUT_DIR, writeRunFiles } from './output.js';
import { createProgress } from './progress.js';
import { formatReport, SCENARIOS } from './report.js';
import type { ScenarioName } from './report.js';
import { fixedRunSettings, intFlag, LIMITS, parseFlags } from './options.js';
import { freshCredentials, startTarget } from './serverStart.js';
import type { SpawnedServer } from './spawn.js';
import { TARGET_KINDS } from './targets/types.js';
import type { TargetKind } from './targets/types.js';
import { runIfMain } from './entry.js';

export { LIMITS } from './options.js';

export const HELP = `Usage: herald bench [options]

Load generator: opens N WebSocket connections over several client processes
and loopback source addresses, authenticates them, joins rooms, runs one
scenario and reports connections held, connect rate, deliveries/s,
publish→deliver latency (p50/p90/p99/max, HDR histogram), errors by kind and
the server's RSS and CPU. Writes a JSON report and an HTML chart.
Loopback targets only.

Scenarios (--scenario, default broadcast):
  broadcast   every connection joins one room; publish to the room (closed loop:
              at most --window broadcasts undelivered at a time, unless --rate)
  unicast     one connection per user; publish to users round-robin at --rate
  storm       connect storm: open all connections as fast as possible, report connects/s
  idle        connect, hold --hold seconds, report server RSS and heap per connection

Target:
  --target <raw|socketio|herald>   server kind                          (default herald)
  --url <http://127.0.0.1:PORT>    a running server; omit to start one as a child process.
                                   Repeat for several nodes (Redis engine): connections are spread
                                   round-robin over them (user i goes to url[i % count])
  --publish-url <url>              node that receives the publishes      (default the first --url;
                                   may be a node that holds no connection)
  --pid <pid>                      pid of a running local server, for /proc RSS and CPU; repeat in the
                                   order of the --url values (then --publish-url, if it is not one of them)
  --jwt-secret <s>                 HS256 secret      (default $HERALD_JWT_SECRET, or generated when spawning)
  --api-key <k>                    publish API key   (default $HERALD_API_KEY, or generated when spawning)

Load:
  -n, --connections <n>            connections                           (default 1000, max ${LIMITS.connections})
  --workers <n>                    client processes (raised so each holds ≤ ${MAX_CONNECTIONS_PER_WORKER})  (default 2)
  --addresses <n>                  loopback source addresses from --source-base (default 1 per 400 connections)
  --source-base <ip>               first source address                  (default 127.0.0.2)
  --connect-concurrency <n>        handshakes in flight per client process (default 200)
  --rooms <n>                      rooms for broadcast                   (default 1)
  --rate <msg/s>                   publishes per second; 0 = closed loop (default unicast 1000, broadcast 0)
  --window <n>                     broadcasts in flight (closed loop)    (default 8)
  --in-flight <n>                  HTTP publish requests in flight       (default 64)
  --duration <s>                   publishing time, seconds              (default 15, max ${LIMITS.durationSec})
  --warmup <s>                     publishing before the measured phase, reported apart (default 0)
  --messages <n>                   stop after this many publishes        (default 1000000)
  --payload <bytes>                approximate size of each message's data (default 100)
  --reliable                       unicast with "reliable": true (Herald acks) (default false)
  --hold <s>                       idle hold time, seconds               (default 10)
  --settle <s>                     after all is delivered, keep counting (reliable resends show as duplicates) (default 0)

Output:
  --out <dir>                      report directory                      (default ${DEFAULT_OUT_DIR})
  --json                           print the JSON report on stdout
  --no-progress                    no progress bar
  --cpu-prof                       (spawned server) write a V8 CPU profile to <out>/profiles
  -h, --help                       this help
`;

export interface ParsedCli {
  help: boolean;
  run?: RunOptions;
  spawn: boolean;
  outDir: string;
  json: boolean;
  progress: boolean;
  cpuProf: boolean;
}

/** The flags of `herald bench` (see HELP). */
const CLI_FLAGS = [
  'help', 'target', 'url', 'publish-url', 'pid', 'jwt-secret', 'api-key', 'scenario', 'connections', 'workers', 'addresses', 'source-base',
  'connect-concurrency', 'rooms', 'rate', 'window', 'in-flight', 'duration', 'warmup', 'messages', 'payload', 'reliable', 'hold', 'settle', 'out', 'json',
  'no-progress', 'cpu-prof',
] as const;

function int(name: string, v: string | undefined, def: number, min: number, max: number): number {
  return intFlag(name, v, min, max) ?? def;
}

export function parseCli(argv: string[]): ParsedCli {
  const values = parseFlags(argv, CLI_FLAGS);
  const outDir = values.out ?? DEFAULT_OUT_DIR;
  const base: Omit<ParsedCli, 'run'> = { help: values.help === true, spawn: values.url === undefined, outDir, json: values.json === true, progress: values['no-progress'] !== true && values.json !== true, cpuProf: values['cpu-prof'] === true };
  if (base.help) return base;
  const target = (values.target ?? 'herald') as TargetKind;
  if (!TARGET_KINDS.includes(target)) throw new Error(`--target must be one of ${TARGET_KINDS.join(', ')}`);
  const scenario = (values.scenario ?? 'broadcast') as ScenarioName;
  if (!SCENARIOS.includes(scenario)) throw new Error(`--scenario must be one of ${SCENARIOS.join(', ')}`);
  const urls = values.url ?? [];
  for (const u of urls) assertLoopbackUrl(u);
  if (values['publish-url'] !== undefined) {
    assertLoopbackUrl(values['publish-url']);
    if (urls.length === 0) throw new Error('--publish-url needs --url');
  }
  const url = values['publish-url'] ?? urls[0] ?? 'http://127.0.0.1:0';
  const connections = int('connections', values.connections, 1000, 1, LIMITS.connections);
  const addressesN = values.addresses === undefined ? undefined : int('addresses', values.addresses, 1, 1, 254);
  // A spawned server gets fresh credentials unless given; a running one needs its own.
  const fresh = base.spawn ? freshCredentials() : { secret: '', apiKey: '' };
  const secret = values['jwt-secret'] ?? process.env.HERALD_JWT_SECRET ?? fresh.secret;
  const apiKey = values['api-key'] ?? process.env.HERALD_API_KEY ?? fresh.apiKey;
  if (!secret || !apiKey) throw new Error('--jwt-secret and --api-key (or HERALD_JWT_SECRET / HERALD_API_KEY) are required against a running server');
  const run: RunOptions = {
    target,
    scenario,
    url,
    connections,
    workers: int('workers', values.workers, 2, 1, LIMITS.workers),
    addresses: sourceAddresses(connections, values['source-base'] ?? '127.0.0.2', addressesN),
    rooms: int('rooms', values.rooms, 1, 1, 10_000),
    rate: int('rate', values.rate, scenario === 'unicast' ? 1000 : 0, 0, LIMITS.rate),
    window: int('window', values.window, 8, 1, 10_000),
    inFlight: int('in-flight', values['in-flight'], 64, 1, 4096),
    durationSec: int('duration', values.duration, 15, 1, LIMITS.durationSec),
    warmupSec: int('warmup', values.warmup, 0, 0, 60),
    maxMessages: int('messages', values.messages, 1_000_000, 1, LIMITS.messages),
    payloadBytes: int('payload', values.payload, 100, 0, LIMITS.payloadBytes),
    reliable: values.reliable === true,
    connectConcurrency: int('connect-concurrency', values['connect-concurrency'], 200, 1, 10_000),
    holdSec: int('hold', values.hold, 10, 0, LIMITS.holdSec),
    settleSec: int('settle', values.settle, 0, 0, 60),
    secret,
    apiKey,
    ...fixedRunSettings(target),
  };
  const pids = (values.pid ?? []).map((p) => int('pid', p, 0, 1, 2 ** 22));
  const nodeUrls = [...new Set([...urls, url])];
  if (pids.length > nodeUrls.length) throw new Error(`more --pid values (${pids.length}) than server URLs (${nodeUrls.length})`);
  if (urls.length > 1 || (urls.length === 1 && url !== urls[0])) {
    run.connectUrls = urls;
    run.nodes = nodeUrls.map((u, i) => ({ url: u, ...(pids[i] !== undefined ? { pid: pids[i] } : {}) }));
  } else if (pids[0] !== undefined) run.pid = pids[0];
  if (run.workers * MAX_CONNECTIONS_PER_WORKER < connections) run.workers = Math.ceil(connections / MAX_CONNECTIONS_PER_WORKER);
  if (run.workers > LIMITS.workers) throw new Error(`too many client processes needed (${run.workers})`);
  return { ...base, run };
}

export async function runBenchCli(argv: string[]): Promise<number> {
  let parsed: ParsedCli;
  try {
    parsed = parseCli(argv);
  } catch (e) {
    process.stderr.write(`herald bench: ${(e as Error).message}\n${e instanceof NonLoopbackTargetError ? '' : "Try 'herald bench --help'.\n"}`);
    return 2;
  }
  if (parsed.help || !parsed.run) {
    process.stdout.write(HELP);
    return 0;
  }
  const run = parsed.run;
  let spawned: SpawnedServer | null = null;
  const progress = createProgress(parsed.progress);
  try {
    if (parsed.spawn) {
      spawned = await startTarget({ kind: run.target, credentials: run, outDir: parsed.outDir, profile: parsed.cpuProf ? '' : undefined });
      run.url = spawned.httpBase;
      run.pid = spawned.pid;
    }
    const report = await runScenario({ ...run, progress });
    if (spawned) {
      await spawned.stop();
      spawned = null;
    }
    writeRunFiles(report, parsed.outDir);
    if (parsed.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    else process.stdout.write(`${formatReport(report)}\n`);
    return 0;
  } catch (e) {
    progress.stop();
    process.stderr.write(`herald bench: ${(e as Error).message}\n`);
    return 1;
  } finally {
    if (spawned) await spawned.stop();
  }
}

runIfMain(import.meta.url, 'herald bench', runBenchCli, 1);
