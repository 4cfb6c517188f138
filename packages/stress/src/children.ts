/**
 * Every child process the runner starts is registered with the kit's tracker,
 * so it is killed on every way out: normal end, a failed scenario, an
 * exception, SIGINT/SIGTERM.
 */
import type { ChildProcess } from 'node:child_process';
import { trackChild } from '@herald/testkit';

export { killAllChildren, liveChildren } from '@herald/testkit';

export function track(p: ChildProcess): void {
  trackChild(p, 'stress');
}
