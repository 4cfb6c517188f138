/** Runs `herald serve` as a child process and waits for its "listening on" line. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { waitUntil } from '../helpers/harness.js';

export const BIN = fileURLToPath(new URL('../../bin/herald.js', import.meta.url));
/** The test runner's environment without any HERALD_* variable. */
export const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('HERALD_')));

export interface Served {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  /** The bound host and port from the "listening on http://host:port" line. */
  host: string;
  port: number;
  stop(): Promise<number | null>;
}

export async function spawnServe(args: string[], env: Record<string, string>, waitFor: RegExp = /listening on http:\/\/(\S+):(\d+)/): Promise<Served> {
  const child = spawn(process.execPath, [BIN, 'serve', ...args], { env: { ...cleanEnv, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const stop = async (): Promise<number | null> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    return child.exitCode;
  };
  try {
    await waitUntil(() => (child.exitCode !== null ? 'exited' : waitFor.test(out) ? 'up' : undefined), 15_000, 'herald serve start-up');
    if (child.exitCode !== null) throw new Error(`herald serve exited ${child.exitCode}: ${err}`);
    await waitUntil(() => /listening on http:\/\/(\S+):(\d+)/.test(out) || undefined, 15_000, 'listening line');
  } catch (e) {
    await stop();
    throw e;
  }
  const m = /listening on http:\/\/(\S+):(\d+)/.exec(out)!;
  return { child, out: () => out, err: () => err, host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]), stop };
}
