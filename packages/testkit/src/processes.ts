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
