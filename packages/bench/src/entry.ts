/** Entry-point detection for the bench's runnable modules (`node dist/<file>.js`). */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** True when the module at `moduleUrl` is the script node was started with. */
export function isMainModule(moduleUrl: string): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(moduleUrl));
  } catch {
    return false;
  }
}

/**
 * When the module at `moduleUrl` is the script node was started with, runs
 * `main` on the command line and exits with its code; a throw is reported
 * after `label` and exits with `crashCode`.
 */
export function runIfMain(moduleUrl: string, label: string, main: (argv: string[]) => Promise<number>, crashCode: number): void {
  if (!isMainModule(moduleUrl)) return;
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`${label}: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(crashCode);
    },
  );
}
