/**
 * Every child process the runner starts is registered here, so it is killed on
 * every way out: normal end, a failed scenario, an exception, SIGINT/SIGTERM.
 */
import type { ChildProcess } from 'node:child_process';

const live = new Set<ChildProcess>();
let hooked = false;

export function track(p: ChildProcess): void {
  live.add(p);
  p.once('exit', () => live.delete(p));
  hook();
}

export function liveChildren(): number {
  return live.size;
}

/** SIGKILLs every child still running (synchronous: safe in 'exit' handlers). */
export function killAllChildren(): void {
  for (const p of live) {
    if (p.exitCode === null && p.signalCode === null && p.pid !== undefined) {
      try {
        p.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

function hook(): void {
  if (hooked) return;
  hooked = true;
  process.once('exit', killAllChildren);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      killAllChildren();
      process.stderr.write(`stress: ${sig}: child processes killed\n`);
      process.exit(130);
    });
  }
}
