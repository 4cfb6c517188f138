/**
 * The bench's command-line options, one table for its three commands
 * (`herald bench`, `bench:compare`, `bench cluster`): a flag means the same
 * and is read the same way wherever it appears, and each command picks the
 * flags it takes. Also the run settings every command uses alike.
 */
import { parseArgs } from 'node:util';
import type { RunOptions } from './orchestrator.js';
import type { TargetKind } from './targets/types.js';

/** Hard bounds: the bench is a measuring tool, not a load cannon. */
export const LIMITS = { connections: 100_000, durationSec: 600, holdSec: 600, rate: 200_000, messages: 10_000_000, payloadBytes: 65_536, workers: 16 };

/** Every flag of every bench command (each command takes a subset: see its help). */
export const BENCH_FLAGS = {
  help: { type: 'boolean', short: 'h' },
  // herald bench: target
  target: { type: 'string' },
  url: { type: 'string', multiple: true },
  'publish-url': { type: 'string' },
  pid: { type: 'string', multiple: true },
  'jwt-secret': { type: 'string' },
  'api-key': { type: 'string' },
  // herald bench: load
  scenario: { type: 'string' },
  connections: { type: 'string', short: 'n' },
  addresses: { type: 'string' },
  'source-base': { type: 'string' },
  'connect-concurrency': { type: 'string' },
  rooms: { type: 'string' },
  rate: { type: 'string' },
  window: { type: 'string' },
  messages: { type: 'string' },
  reliable: { type: 'boolean' },
  settle: { type: 'string' },
  json: { type: 'boolean' },
  // bench:compare and bench cluster: cases and set-ups
  quick: { type: 'boolean' },
  targets: { type: 'string' },
  cases: { type: 'string' },
  scale: { type: 'string' },
  repeat: { type: 'string' },
  setups: { type: 'string' },
  nodes: { type: 'string' },
  mix: { type: 'boolean' },
  capacity: { type: 'string' },
  'client-workers': { type: 'string' },
  'redis-url': { type: 'string' },
  'redis-pid': { type: 'string' },
  env: { type: 'string', multiple: true },
  // shared
  workers: { type: 'string' },
  duration: { type: 'string' },
  warmup: { type: 'string' },
  hold: { type: 'string' },
  payload: { type: 'string' },
  'in-flight': { type: 'string' },
  out: { type: 'string' },
  'no-progress': { type: 'boolean' },
  'cpu-prof': { type: 'boolean' },
  'quiet-wait': { type: 'string' },
  // bench:compare --count (repeatable counts) and the Herald build to measure
  count: { type: 'boolean' },
  callgrind: { type: 'boolean' },
  'server-bin': { type: 'string' },
} as const;

export type BenchFlag = keyof typeof BENCH_FLAGS;

type FlagValue<F> = F extends { type: 'boolean' } ? boolean : F extends { multiple: true } ? string[] : string;
/** The values of the flags `K` given on a command line (absent flags are undefined). */
export type ParsedFlags<K extends BenchFlag> = { [N in K]?: FlagValue<(typeof BENCH_FLAGS)[N]> };

/** Parses `argv` strictly against the named flags of the table (unknown flags and positionals are errors). */
export function parseFlags<K extends BenchFlag>(argv: string[], names: readonly K[]): ParsedFlags<K> {
  const options = Object.fromEntries(names.map((n) => [n, BENCH_FLAGS[n]])) as Pick<typeof BENCH_FLAGS, K>;
  return parseArgs({ args: argv, strict: true, allowPositionals: false, options }).values as ParsedFlags<K>;
}

/** An integer flag in [min, max]; undefined when absent. */
export function intFlag(name: string, v: string | undefined, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || !Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be an integer in [${min}, ${max}], got "${v}"`);
  return n;
}

/** A comma-separated subset of `allowed` (all of it when absent); `what` names an element in the error. */
export function listFlag<T extends string>(v: string | undefined, allowed: readonly T[], what: string): T[] {
  const list = (v?.split(',') ?? [...allowed]) as T[];
  for (const x of list) if (!allowed.includes(x)) throw new Error(`unknown ${what} "${x}"`);
  return list;
}

/** Run settings no command exposes as a flag. */
export function fixedRunSettings(target: TargetKind): Pick<RunOptions, 'heapSource' | 'reportIntervalMs' | 'handshakeTimeoutMs' | 'drainTimeoutSec'> {
  return { heapSource: target === 'herald' ? 'metrics' : 'stats', reportIntervalMs: 250, handshakeTimeoutMs: 15_000, drainTimeoutSec: 30 };
}

/** What bench:compare and bench cluster run every case with (herald bench takes these as flags). */
export const CASE_RUN_SETTINGS = { rooms: 1, window: 8, maxMessages: 10_000_000, connectConcurrency: 100 } as const satisfies Partial<RunOptions>;

/** A fresh block of loopback source addresses for run number `runIndex`: ports the previous run left in TIME_WAIT cannot collide. */
export function runSourceBase(runIndex: number): string {
  return `127.${10 + (runIndex % 200)}.0.2`;
}
