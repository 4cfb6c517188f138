/**
 * Starts a target server as its own child process, so its RSS and CPU are
 * measured alone, and stops it with SIGTERM (letting `--cpu-prof` write its
 * profile). Readiness is GET /readyz → 200, polled with a bounded deadline.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { request } from 'node:http';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, trackChild } from '@herald/testkit';
import type { TargetKind } from './targets/types.js';

/** This module runs from dist/*.js normally and from src/*.ts under tsx (tests). */
export const RUNNING_TS = import.meta.url.endsWith('.ts');
const EXT = RUNNING_TS ? '.ts' : '.js';

/** node arguments needed to run a sibling module of this package. */
export function moduleArgs(relative: string): { file: string; execArgv: string[] } {
  const file = fileURLToPath(new URL(`${relative}${EXT}`, import.meta.url));
  return { file, execArgv: RUNNING_TS ? ['--import', 'tsx'] : [] };
}

export const HERALD_BIN = fileURLToPath(new URL('../../server/bin/herald.js', import.meta.url));

/**
 * The Herald server the bench starts: `override` (a --server-bin flag), else
 * the HERALD_BENCH_BIN environment variable, else this checkout's
 * packages/server/bin/herald.js. Lets one harness measure another checkout's
 * build (that build's own node_modules are used).
 */
export function heraldBinPath(override?: string): string {
  const p = override ?? process.env.HERALD_BENCH_BIN;
  return p && p.length > 0 ? resolve(p) : HERALD_BIN;
}

export interface SpawnOptions {
  kind: TargetKind;
  secret: string;
  apiKey: string;
  /** Directory for the server's stdout/stderr log. */
  logDir: string;
  /** Write a V8 CPU profile into this directory when the server exits. */
  cpuProfDir?: string;
  heraldBin?: string;
  readyTimeoutMs?: number;
  /** Extra environment for the server (e.g. HERALD_* settings). */
  env?: Record<string, string>;
  /**
   * A command the server runs under (e.g. valgrind and its options): it is
   * started as `wrap[0] ...wrap[1..] node <args>`. The pid is the wrapper's,
   * which for valgrind is the server's own process.
   */
  wrap?: string[];
}

export interface SpawnedServer {
  kind: TargetKind;
  pid: number;
  port: number;
  httpBase: string;
  logFile: string;
  stop(): Promise<void>;
}

function readyOnce(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(url, { timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

async function waitReady(child: ChildProcess, url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited: number | null = null;
  child.once('exit', (code) => (exited = code ?? -1));
  while (Date.now() < deadline) {
    if (exited !== null) throw new Error(`server exited with code ${exited} before becoming ready`);
    if (await readyOnce(url)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`server not ready at ${url} within ${timeoutMs} ms`);
}

export async function startServer(o: SpawnOptions): Promise<SpawnedServer> {
  const port = await freePort();
  mkdirSync(o.logDir, { recursive: true });
  const logFile = join(o.logDir, `${o.kind}-${port}.log`);
  const log = createWriteStream(logFile);
  const prof = o.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', o.cpuProfDir] : [];
  if (o.cpuProfDir) mkdirSync(o.cpuProfDir, { recursive: true });
  let args: string[];
  let env: NodeJS.ProcessEnv;
  if (o.kind === 'herald') {
    args = [...prof, heraldBinPath(o.heraldBin), 'serve'];
    // The bench's own variable is not a server setting: Herald refuses unknown HERALD_* variables.
    const { HERALD_BENCH_BIN: _bin, ...inherited } = process.env;
    env = {
      ...inherited,
      HERALD_PORT: String(port),
      HERALD_HOST: '127.0.0.1',
      HERALD_JWT_SECRET: o.secret,
      HERALD_API_KEY: o.apiKey,
      HERALD_LOG_LEVEL: 'warn',
    };
  } else {
    const m = moduleArgs(o.kind === 'raw' ? './servers/rawWsServer' : './servers/socketioServer');
    args = [...m.execArgv, ...prof, m.file];
    env = { ...process.env, BENCH_PORT: String(port), BENCH_HOST: '127.0.0.1', BENCH_JWT_SECRET: o.secret, BENCH_API_KEY: o.apiKey };
  }
  const [cmd, ...cmdArgs] = o.wrap && o.wrap.length > 0 ? [...o.wrap, process.execPath, ...args] : [process.execPath, ...args];
  const child = spawn(cmd as string, cmdArgs, { env: { ...env, ...o.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  // Never leave a server running if the bench is interrupted.
  trackChild(child, 'herald bench');
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const httpBase = `http://127.0.0.1:${port}`;
  try {
    await waitReady(child, `${httpBase}/readyz`, o.readyTimeoutMs ?? 20_000);
  } catch (e) {
    child.kill('SIGKILL');
    throw new Error(`${o.kind}: ${(e as Error).message} (log: ${logFile})`, { cause: e });
  }
  const pid = child.pid as number;
  return {
    kind: o.kind,
    pid,
    port,
    httpBase,
    logFile,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) {
          resolve();
          return;
        }
        // Graceful first (profiles and drains), then forced after a bounded wait.
        const force = setTimeout(() => child.kill('SIGKILL'), 15_000);
        child.once('exit', () => {
          clearTimeout(force);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}
