/**
 * How every bench command brings up what it measures: fresh credentials per
 * invocation, a quiet machine when one can be had, and each target server in
 * its own child process with its log (and, on request, CPU profile) under the
 * output directory.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { nowMs } from './clock.js';
import { waitForQuiet } from './contention.js';
import { startServer } from './spawn.js';
import type { SpawnedServer } from './spawn.js';
import type { TargetKind } from './targets/types.js';

export interface Credentials {
  secret: string;
  apiKey: string;
}

/** A JWT secret and API key for servers this run starts (nothing outside the run knows them). */
export function freshCredentials(): Credentials {
  return { secret: randomBytes(32).toString('base64url'), apiKey: randomBytes(24).toString('base64url') };
}

export interface TargetStart {
  kind: TargetKind;
  credentials: Credentials;
  /** Logs go to <outDir>/logs. */
  outDir: string;
  /** Write a V8 CPU profile into <outDir>/profiles/<profile> ('' for <outDir>/profiles); undefined: no profile. */
  profile?: string | undefined;
  env?: Record<string, string>;
  /** The Herald server script (default: see heraldBinPath). */
  heraldBin?: string | undefined;
  /** Run the server under this command (see SpawnOptions.wrap). */
  wrap?: string[];
  readyTimeoutMs?: number;
}

export function startTarget(o: TargetStart): Promise<SpawnedServer> {
  return startServer({
    kind: o.kind,
    secret: o.credentials.secret,
    apiKey: o.credentials.apiKey,
    logDir: join(o.outDir, 'logs'),
    ...(o.profile !== undefined ? { cpuProfDir: join(o.outDir, 'profiles', o.profile) } : {}),
    ...(o.env ? { env: o.env } : {}),
    ...(o.heraldBin !== undefined ? { heraldBin: o.heraldBin } : {}),
    ...(o.wrap ? { wrap: o.wrap } : {}),
    ...(o.readyTimeoutMs !== undefined ? { readyTimeoutMs: o.readyTimeoutMs } : {}),
  });
}

/**
 * Other work on the machine shares the cores with server and clients: before a
 * run, wait up to `maxWaitSec` for other processes to use under 25% of a core
 * (0: don't wait), and say so when the machine stays busy.
 */
export async function awaitQuietMachine(maxWaitSec: number): Promise<void> {
  if (maxWaitSec <= 0) return;
  const q = await waitForQuiet(maxWaitSec * 1000, 25, nowMs);
  if (!q.quiet) process.stderr.write(`(machine not quiet after ${Math.round(q.waitedMs / 1000)} s: other processes at ${q.foreignPercent}% of a core; running anyway)\n`);
}
