/**
 * The process-level last resort (issue 13, item 2): `herald serve` logs and
 * counts an uncaught exception and an unhandled rejection, and keeps serving.
 * Run in a child process: the test runner has its own process handlers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { installLastResort } from '../../src/observability/lastResort.js';
import { createLogger } from '../../src/observability/logger.js';
import { parseMetrics } from '../ops/metricsText.js';
import { waitUntil } from '../helpers/harness.js';

const SERVE = new URL('../../src/cli/serve.ts', import.meta.url).href;
const LAST_RESORT = new URL('../../src/observability/lastResort.ts', import.meta.url).href;
const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('HERALD_')));

// The child starts a real node with `serve`, then a bug fires twice outside any handler.
const CHILD = `
const { serve } = await import(${JSON.stringify(SERVE)});
const { internalErrorCounts } = await import(${JSON.stringify(LAST_RESORT)});
await serve({ overrides: { port: 0, host: '127.0.0.1', jwtSecret: 'last-resort-secret-0123456789abcdef', apiKey: 'last-resort-api-key-0123', logLevel: 'info' } });
Promise.reject(new Error('probe rejection'));
setTimeout(() => { throw new Error('probe exception'); }, 0);
const deadline = Date.now() + 5000;
const both = () => (internalErrorCounts().get('uncaught_exception') ?? 0) >= 1 && (internalErrorCounts().get('unhandled_rejection') ?? 0) >= 1;
while (!both() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
process.stdout.write('COUNTS ' + JSON.stringify(Object.fromEntries(internalErrorCounts())) + '\\n');
`;

test('herald serve survives an uncaught exception and an unhandled rejection: logged, counted, still serving', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CHILD], { env: cleanEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let stderr = '';
  createInterface({ input: child.stdout }).on('line', (l) => lines.push(l));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  let exit: number | null | undefined;
  const exited = new Promise<void>((resolve) => child.on('exit', (code) => ((exit = code), resolve())));
  try {
    const port = await waitUntil(
      () => {
        if (exit !== undefined) throw new Error(`child exited ${exit}: ${stderr}`);
        // The JSON log line (serve also prints a human-readable "herald listening on …" line, in either order).
        for (const l of lines) if (l.startsWith('{') && l.includes('herald listening')) return (JSON.parse(l) as { port: number }).port;
        return undefined;
      },
      20_000,
      'the node to listen',
    );
    const counts = await waitUntil(
      () => {
        if (exit !== undefined) throw new Error(`child exited ${exit} (the process died): ${stderr.slice(0, 2000)}`);
        const l = lines.find((x) => x.startsWith('COUNTS '));
        return l ? (JSON.parse(l.slice(7)) as Record<string, number>) : undefined;
      },
      10_000,
      'the counts',
    );
    assert.deepEqual(counts, { unhandled_rejection: 1, uncaught_exception: 1 });
    // Logged with the error, and the node still answers.
    assert.ok(lines.some((l) => l.includes('uncaught exception') && l.includes('probe exception') && l.includes('"level":60')));
    assert.ok(lines.some((l) => l.includes('unhandled promise rejection') && l.includes('probe rejection')));
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    assert.equal(health.status, 200);
    const metrics = parseMetrics(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
    const value = (kind: string): number | undefined => metrics.find((s) => s.name === 'herald_uncaught_errors_total' && s.labels.kind === kind)?.value;
    assert.equal(value('uncaught_exception'), 1);
    assert.equal(value('unhandled_rejection'), 1);
    assert.equal(exit, undefined);
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
  assert.equal(exit, 0, 'a graceful stop after the failures');
});

test('installLastResort installs once and uninstalls cleanly', () => {
  const before = [process.listenerCount('uncaughtException'), process.listenerCount('unhandledRejection')];
  const log = createLogger('silent');
  const uninstall = installLastResort(log);
  assert.equal(installLastResort(log), uninstall, 'a second install returns the first');
  assert.deepEqual([process.listenerCount('uncaughtException'), process.listenerCount('unhandledRejection')], [before[0]! + 1, before[1]! + 1]);
  uninstall();
  assert.deepEqual([process.listenerCount('uncaughtException'), process.listenerCount('unhandledRejection')], before);
});
