/** Child processes that tests, bench and stress start and must be sure to end. */
import type { ChildProcess } from 'node:child_process';

/** Started (it has a pid: a spawn that failed has none) and not yet exited. */
export function isRunning(p: ChildProcess | undefined): p is ChildProcess {
  return p !== undefined && p.pid !== undefined && p.exitCode === null && p.signalCode === null;
}

/**
 * Sends `signal` (SIGKILL: a crash) and resolves once the process has exited.
 * With `forceAfterMs`, a process that outlasts a gentler signal is SIGKILLed.
 */
export async function killAndWait(p: ChildProcess | undefined, signal: NodeJS.Signals = 'SIGKILL', forceAfterMs?: number): Promise<void> {
  if (!isRunning(p)) return;
  const exited = new Promise<void>((r) => p.once('exit', () => r()));
  p.kill(signal);
  const force = forceAfterMs === undefined ? undefined : setTimeout(() => p.kill('SIGKILL'), forceAfterMs);
  await exited;
  if (force) clearTimeout(force);
}

const live = new Set<ChildProcess>();
let hooked = false;

/**
 * Registers a child process so that it is SIGKILLed on every way out of this
 * process: normal end, an exception, SIGINT/SIGTERM (then exit 130). `label`
 * names this program in the line written on a signal.
 */
export function trackChild(p: ChildProcess, label = 'herald'): void {
  live.add(p);
  p.once('exit', () => live.delete(p));
  if (hooked) return;
  hooked = true;
  process.once('exit', killAllChildren);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      killAllChildren();
      process.stderr.write(`${label}: ${sig}: child processes killed\n`);
      process.exit(130);
    });
  }
}

/** Tracked children still running. */
export function liveChildren(): number {
  return live.size;
}

/** SIGKILLs every tracked child still running (synchronous: safe in 'exit' handlers). */
export function killAllChildren(): void {
  for (const p of live) {
    if (isRunning(p)) {
      try {
        p.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}
