/**
 * runWorkers (node:cluster): workers share one port, a worker killed with
 * SIGKILL is replaced, SIGTERM to the primary stops every worker gracefully.
 * Runs a real primary process with real workers.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { freePort, waitFor } from './helpers/redisServer.js';

function pidAt(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    // agent:false: a fresh connection per request, so the primary's round-robin picks a worker each time.
    const req = get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(Number(body)));
    });
    req.on('error', () => resolve(undefined));
    req.setTimeout(2000, () => req.destroy());
  });
}

test('workers share a port, crashed workers are replaced, SIGTERM stops all gracefully', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'herald-workers-'));
  const workersModule = fileURLToPath(new URL('../src/cli/workers.ts', import.meta.url));
  const script = join(dir, 'primary.mjs');
  writeFileSync(
    script,
    `
    import cluster from 'node:cluster';
    import { createServer } from 'node:http';
    import { runWorkers } from ${JSON.stringify(workersModule)};
    await runWorkers(2, async () => {
      const srv = createServer((req, res) => res.end(String(process.pid)));
      srv.listen(Number(process.env.PORT));
      process.on('SIGTERM', () => srv.close(() => { process.stdout.write('graceful ' + process.pid + '\\n'); process.exit(0); }));
    }, undefined, { restartMinMs: 20, restartMaxMs: 100 });
    if (cluster.isPrimary) process.stdout.write('primary done\\n');
  `,
  );
  const port = await freePort();
  const primary = spawn(process.execPath, ['--import', 'tsx', script], { env: { ...process.env, PORT: String(port), HERALD_LOG_LEVEL: 'silent' }, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  primary.stdout.on('data', (d) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => primary.once('exit', (code) => r(code)));
  try {
    const pids = new Set<number>();
    await waitFor('two workers answering on one port', async () => {
      const pid = await pidAt(port);
      if (pid) pids.add(pid);
      return pids.size === 2;
    });
    assert.ok(!pids.has(primary.pid!), 'the primary serves no requests');

    const [victim] = [...pids];
    process.kill(victim!, 'SIGKILL');
    const replacement = await waitFor('a replacement worker', async () => {
      const pid = await pidAt(port);
      return pid !== undefined && !pids.has(pid) ? pid : undefined;
    });
    assert.notEqual(replacement, victim);

    primary.kill('SIGTERM');
    assert.equal(await exited, 0);
    const graceful = out.split('\n').filter((l) => l.startsWith('graceful '));
    assert.equal(graceful.length, 2, `both live workers stop gracefully: ${out}`);
    assert.ok(out.includes('primary done'));
    assert.equal(await pidAt(port), undefined, 'nothing listens any more');
  } finally {
    primary.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
