/**
 * `herald serve --workers N`: one Herald process per core (DESIGN.md §3).
 *
 * Node runs JavaScript on one core, so a machine runs N worker processes
 * with node:cluster. They all listen on the same port; the primary accepts
 * connections and hands them out round-robin (SCHED_RR, also on platforms
 * whose default is to let the OS pick, which balances badly). Each worker is
 * a full node with its own node id, talking to the others over the Redis
 * engine exactly as nodes on different machines do — the primary shares no
 * state, so a worker crash affects only its own connections.
 *
 * The primary restarts a crashed worker with exponential backoff (a worker
 * that crashes at start-up does not spin), and turns SIGTERM/SIGINT into a
 * graceful stop of every worker (each closes its clients 1001 and flushes),
 * with SIGKILL for stragglers after `shutdownTimeoutMs`.
 */
import cluster, { type Worker } from 'node:cluster';
import { createLogger, type Logger } from '../observability/logger.js';

export interface WorkersOptions {
  /** First restart delay after a crash; doubles per consecutive crash of the same slot. */
  restartMinMs?: number;
  restartMaxMs?: number;
  /** A worker that lived this long resets its slot's crash count. */
  stableAfterMs?: number;
  /** Time workers get to stop gracefully before SIGKILL. */
  shutdownTimeoutMs?: number;
}

/**
 * In the primary: forks `count` workers and supervises them until a signal
 * stops them all (resolves then). In a worker: runs `startWorker` and resolves.
 */
export async function runWorkers(count: number, startWorker: () => Promise<void>, logger?: Logger, opts: WorkersOptions = {}): Promise<void> {
  if (cluster.isWorker) {
    await startWorker();
    return;
  }
  const log = (logger ?? createLogger(process.env.HERALD_LOG_LEVEL ?? 'info')).child({ component: 'workers' });
  const restartMin = opts.restartMinMs ?? 500;
  const restartMax = opts.restartMaxMs ?? 30_000;
  const stableAfter = opts.stableAfterMs ?? 60_000;
  const shutdownTimeout = opts.shutdownTimeoutMs ?? 15_000;
  if (!Number.isInteger(count) || count < 1) throw new Error(`--workers must be a positive integer, got ${count}`);

  cluster.schedulingPolicy = cluster.SCHED_RR;
  const slots = new Map<Worker, { slot: number; started: number }>();
  const crashes = new Array<number>(count).fill(0);
  const timers = new Set<NodeJS.Timeout>();
  let stopping = false;

  const fork = (slot: number): void => {
    const env: Record<string, string> = { HERALD_WORKER_SLOT: String(slot) };
    // An explicit node id would be shared by every worker, and a node skips messages carrying its own
    // id as echoes: workers would never hear each other. Each gets its own suffix.
    if (process.env.HERALD_NODE_ID) env.HERALD_NODE_ID = `${process.env.HERALD_NODE_ID}-w${slot}`;
    const w = cluster.fork(env);
    slots.set(w, { slot, started: Date.now() });
    log.info({ slot, pid: w.process.pid }, 'worker started');
  };

  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));

  cluster.on('exit', (w, code, signal) => {
    const s = slots.get(w);
    slots.delete(w);
    if (!s) return;
    if (stopping) {
      log.info({ slot: s.slot, pid: w.process.pid, code, signal }, 'worker stopped');
      if (slots.size === 0) resolveDone();
      return;
    }
    if (Date.now() - s.started >= stableAfter) crashes[s.slot] = 0;
    const n = ++crashes[s.slot]!;
    const cap = Math.min(restartMax, restartMin * 2 ** (n - 1));
    // Half fixed, half jitter: workers that died together do not restart in lockstep.
    const delay = Math.floor(cap / 2 + (Math.random() * cap) / 2);
    log.error({ slot: s.slot, pid: w.process.pid, code, signal, restartInMs: delay }, 'worker died; restarting');
    const t = setTimeout(() => {
      timers.delete(t);
      if (!stopping) fork(s.slot);
    }, delay);
    timers.add(t);
  });

  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal, workers: slots.size }, 'stopping workers');
    for (const t of timers) clearTimeout(t);
    timers.clear();
    if (slots.size === 0) {
      resolveDone();
      return;
    }
    for (const w of slots.keys()) w.process.kill('SIGTERM');
    const kill = setTimeout(() => {
      for (const w of slots.keys()) {
        log.warn({ pid: w.process.pid }, 'worker did not stop in time; killing');
        w.process.kill('SIGKILL');
      }
    }, shutdownTimeout);
    kill.unref();
  };
  const onTerm = (): void => stop('SIGTERM');
  const onInt = (): void => stop('SIGINT');
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onInt);
  // SIGHUP reloads the configuration: every worker re-reads it itself (cli/serve.ts).
  const onHup = (): void => {
    for (const w of slots.keys()) w.process.kill('SIGHUP');
  };
  process.on('SIGHUP', onHup);

  for (let i = 0; i < count; i++) fork(i);
  await done;
  process.off('SIGTERM', onTerm);
  process.off('SIGINT', onInt);
  process.off('SIGHUP', onHup);
}
