/**
 * A SIGTERM sent the moment the listening line appears (a supervisor or a test that reads it and
 * stops the node at once) gets the graceful drain and exit 0: the signal handlers are installed
 * before the line is printed. They used to come after it and after the dev banner's token, so a
 * signal in between killed the node by the default action (no drain; exit code null).
 */
import { spawn } from 'node:child_process';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BIN, cleanEnv } from './spawnServe.js';

for (const mode of ['dev', 'production'] as const) {
  test(`${mode} mode: SIGTERM at the listening line drains and exits 0`, { timeout: 30_000 }, async () => {
    const env: Record<string, string> = { ...cleanEnv, HERALD_PORT: '0', HERALD_LOG_LEVEL: 'silent' };
    if (mode === 'production') Object.assign(env, { HERALD_JWT_SECRET: 'signal-at-start-secret-0123456789', HERALD_API_KEY: 'signal-at-start-api-key-01' });
    const child = spawn(process.execPath, [BIN, 'serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      // In the same callback that sees the line: as early as any reader can react.
      if (/listening on http:/.test(out) && child.exitCode === null && !child.killed) child.kill('SIGTERM');
    });
    const [code, signal] = (await new Promise((resolve) => child.once('exit', (c, s) => resolve([c, s])))) as [number | null, NodeJS.Signals | null];
    assert.match(out, /listening on http:/);
    assert.deepEqual({ code, signal }, { code: 0, signal: null });
  });
}
