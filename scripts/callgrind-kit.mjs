/**
 * What the instruction meters share (scripts/hotpath-instructions.mjs, scripts/connect-instructions.mjs):
 * a free loopback port, HS256 tokens for the server they start, and callgrind — the server run
 * with instrumentation off until the measured phase, its totals read from a dump.
 */
import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

/** A loopback port free at the time of asking. */
export function freePort() {
  return new Promise((res) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => res(p));
    });
  });
}

/** `token(sub)`: an HS256 JWT for `sub`, valid for an hour, signed with `secret`. */
export function hs256Signer(secret) {
  const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
  return (sub) => {
    const now = Math.floor(Date.now() / 1000);
    const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub, iat: now, exp: now + 3600 })}`;
    return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
  };
}

/** valgrind's arguments before the command: callgrind, counting nothing until `instr('--instr=on')`, dumps into `outDir`. */
export function callgrindArgs(outDir) {
  return ['--tool=callgrind', '--instr-atstart=no', '--smc-check=all-non-file', `--callgrind-out-file=${outDir}/cg.%p`];
}

/** Controls the callgrind run of `pid` dumping into `outDir`: `cg(flags)` is callgrind_control; `readTotal` dumps, reads and removes the dumps (keeping the last at `keep`), and returns its instruction total. */
export function callgrindOf(pid, outDir) {
  const cg = (...flags) => execFileSync('callgrind_control', [...flags, String(pid)], { stdio: 'pipe' }).toString();
  const readTotal = (keep) => {
    cg('-d');
    const files = readdirSync(outDir).filter((f) => f.startsWith('cg.')).sort();
    const last = readFileSync(join(outDir, files[files.length - 1]), 'utf8');
    if (keep) writeFileSync(keep, last);
    for (const f of files) rmSync(join(outDir, f));
    return Number(/^(?:summary|totals): (\d+)/m.exec(last)[1]);
  };
  return { cg, readTotal };
}
