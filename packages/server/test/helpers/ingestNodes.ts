/**
 * Shared by the NATS and PostgreSQL ingest tests: Herald nodes on the Redis
 * engine (one key prefix per run, so idempotency keys are shared across
 * nodes), the publish pipeline of a node as an IngestPublish, a read of what a
 * user's inbox really stored, and a child process that runs a node with one
 * ingest source (for kill -9).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { HeraldNode } from '../../src/node.js';
import type { HeraldConfigInput } from '../../src/config/schema.js';
import type { IngestPublish } from '../../src/ingest/source.js';
import { API_KEY, SECRET, startNode } from './harness.js';
import { SHARED_REDIS_URL } from './redisServer.js';

export const TENANT = 'ingest';

/** A node on the shared Redis under `prefix`; the Redis stream ingest is off (not under test here). */
export function redisNode(prefix: string, extra: HeraldConfigInput = {}): Promise<HeraldNode> {
  return startNode({ engine: 'redis', redisUrl: SHARED_REDIS_URL, redisKeyPrefix: prefix, ingestEnabled: false, ...extra });
}

/** The node's publish pipeline, as the node wires it for its ingest sources. */
export function pipelineOf(node: HeraldNode): IngestPublish {
  return async (body) => {
    await node.publisher.publishUnknown(body);
  };
}

/** A publish body for entry `n` to `user` (reliable: user targets are). */
export function entry(user: string, n: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { to: { user, tenant: TENANT }, data: { n, ...extra } };
}

export interface Stored {
  /** `data.n` of every stored message, in seq order. */
  ns: number[];
  seqs: number[];
  /** Highest seq ever assigned for the user. */
  tip: number;
}

/** What the engine stored for `user` (all of it: retention wide open). */
export async function stored(node: HeraldNode, user: string): Promise<Stored> {
  const r = await node.engine.readAfter(TENANT, user, 0, 100_000, { maxMessages: 10_000_000, maxAgeMs: 365 * 86_400_000 });
  return { ns: r.messages.map((m) => (JSON.parse(m.data) as { n: number }).n), seqs: r.messages.map((m) => m.seq), tip: r.tip };
}

/** 0..n-1 */
export function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

const CHILD = fileURLToPath(new URL('./ingestChild.ts', import.meta.url));

export interface IngestChild {
  proc: ChildProcess;
  /** Resolves when the child printed `line` on stdout. */
  waitForLine(line: string, timeoutMs?: number): Promise<void>;
  /** kill -9, resolved once the process is gone. */
  kill9(): Promise<void>;
}

/**
 * Starts a Herald node in a child process with one ingest source built by the
 * source's `fromConfig` from `config`. After its `hangAfter`-th publish resolved
 * (stored) it prints `stored` and never acknowledges: the parent kills it there,
 * between store and ack.
 */
export function startIngestChild(kind: 'nats' | 'pg', prefix: string, config: HeraldConfigInput, hangAfter: number): IngestChild {
  const full: HeraldConfigInput = {
    port: 0,
    host: '127.0.0.1',
    jwtSecret: SECRET,
    apiKey: API_KEY,
    logLevel: 'silent',
    engine: 'redis',
    redisUrl: SHARED_REDIS_URL,
    redisKeyPrefix: prefix,
    ingestEnabled: false,
    ...config,
  };
  const proc = spawn(process.execPath, ['--import', 'tsx', CHILD], {
    env: { ...process.env, INGEST_CHILD_KIND: kind, INGEST_CHILD_CONFIG: JSON.stringify(full), INGEST_CHILD_HANG_AFTER: String(hangAfter) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  const waiters: { line: string; resolve: () => void }[] = [];
  proc.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    const lines = out.split('\n');
    for (const w of [...waiters]) {
      if (lines.includes(w.line)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  return {
    proc,
    waitForLine(line, timeoutMs = 30_000) {
      if (out.split('\n').includes(line)) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`child did not print "${line}" within ${timeoutMs} ms (got: ${out.slice(-200)})`)), timeoutMs);
        waiters.push({
          line,
          resolve: () => {
            clearTimeout(t);
            resolve();
          },
        });
        void exited.then(() => reject(new Error(`child exited before printing "${line}" (got: ${out.slice(-200)})`)));
      });
    },
    async kill9() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
    },
  };
}
