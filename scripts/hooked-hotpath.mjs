/**
 * The workload of scripts/hotpath-instructions.mjs --no-valgrind (its server, users, clients and
 * publishes) with a hook preloaded into the server (NODE_OPTIONS=--import; the hooks act only in
 * the server process, though every process inherits the option). The hook writes its findings to
 * the file named by `outVar` in its environment; this returns that file's JSON.
 * Shared by scripts/alloc-per-delivery.mjs and scripts/gc-per-delivery.mjs.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const root = fileURLToPath(new URL('..', import.meta.url));

/** parseArgs options of the workload both scripts take (each adds --messages with its own default). */
export const WORKLOAD_OPTIONS = {
  target: { type: 'string', default: 'herald' },
  case: { type: 'string', default: 'unicast' },
  users: { type: 'string', default: '20' },
  warmup: { type: 'string', default: '2000' },
  /** Another build's bin/herald.js (a before/after comparison). */
  'herald-bin': { type: 'string' },
};

/**
 * @param {{ hook: string, outVar: string, env?: Record<string, string>, keepAs?: string,
 *   target: string, case: string, users: string, warmup: string, messages: string, 'herald-bin'?: string }} o
 *   hook: the script under scripts/; env: the hook's other settings; keepAs: copy the hook's file there too.
 */
export async function runHooked(o) {
  const dir = mkdtempSync(join(tmpdir(), 'hooked-'));
  const out = join(dir, 'out.json');
  try {
    const child = spawn(
      process.execPath,
      [join(root, 'scripts/hotpath-instructions.mjs'), '--no-valgrind', '--target', o.target, '--case', o.case,
        '--users', o.users, '--warmup', o.warmup, '--messages', o.messages,
        ...(o['herald-bin'] ? ['--herald-bin', o['herald-bin']] : [])],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
        env: {
          ...process.env,
          NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${pathToFileURL(join(root, 'scripts', o.hook)).href}`.trim(),
          [o.outVar]: out,
          ...o.env,
        },
      },
    );
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    const code = await new Promise((r) => child.once('exit', r));
    if (code !== 0) throw new Error(`hotpath-instructions exited ${code}: ${stdout}`);
    let text;
    try {
      text = readFileSync(out, 'utf8');
    } catch {
      throw new Error(`${o.hook} wrote nothing (the measured phase ended less than 300 ms before the server was stopped?)`);
    }
    if (o.keepAs) copyFileSync(out, o.keepAs);
    return JSON.parse(text);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
