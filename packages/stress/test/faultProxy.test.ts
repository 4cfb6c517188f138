/** The fault proxy against a local echo server: forwarding, latency, refusal, cuts, stalls, failover. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { FaultProxy } from '../src/faultProxy.js';
import { Rng } from '../src/rng.js';
import { waitFor } from '../src/wait.js';

async function echoServer(): Promise<{ srv: Server; port: number }> {
  const srv = createServer((s) => {
    s.on('error', () => {});
    s.pipe(s);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const a = srv.address();
  return { srv, port: typeof a === 'object' && a ? a.port : 0 };
}

function client(port: number): { s: Socket; got: () => string; closed: () => boolean } {
  const s = connect({ host: '127.0.0.1', port });
  let buf = '';
  let closed = false;
  s.on('data', (d: Buffer) => (buf += d.toString()));
  s.on('close', () => (closed = true));
  s.on('error', () => {});
  return { s, got: () => buf, closed: () => closed };
}

test('forwards bytes both ways, with added latency in order', async () => {
  const { srv, port } = await echoServer();
  const p = new FaultProxy('t', [{ host: '127.0.0.1', port }], new Rng(1));
  await p.listen();
  try {
    const c = client(p.port);
    c.s.write('hello');
    await waitFor('echo', () => c.got() === 'hello', 2000, 5);
    p.setLatency(150, 20);
    const t0 = Date.now();
    for (const ch of 'abcdef') c.s.write(ch);
    await waitFor('delayed echo', () => c.got() === 'helloabcdef', 3000, 5);
    assert.ok(Date.now() - t0 >= 280, 'latency applies on each direction');
    c.s.destroy();
  } finally {
    await p.close();
    srv.close();
  }
});

test('refuses new connections, cuts open ones, and holds bytes while stalled', async () => {
  const { srv, port } = await echoServer();
  const p = new FaultProxy('t', [{ host: '127.0.0.1', port }], new Rng(2));
  await p.listen();
  try {
    const a = client(p.port);
    a.s.write('x');
    await waitFor('echo', () => a.got() === 'x', 2000, 5);
    p.stall(true);
    a.s.write('y');
    await new Promise((r) => setTimeout(r, 150)); // the stall lasts a while
    assert.equal(a.got(), 'x', 'nothing passes while stalled');
    p.stall(false);
    await waitFor('released', () => a.got() === 'xy', 2000, 5);
    assert.equal(p.cut(1), 1);
    await waitFor('cut', () => a.closed(), 2000, 5);
    p.setRefuse(true);
    const b = client(p.port);
    await waitFor('refused', () => b.closed(), 2000, 5);
    assert.equal(p.stats.refused, 1);
  } finally {
    await p.close();
    srv.close();
  }
});

test('balances over targets and skips one that refuses', async () => {
  const { srv, port } = await echoServer();
  const dead = createServer();
  await new Promise<void>((r) => dead.listen(0, '127.0.0.1', () => r()));
  const deadPort = (dead.address() as { port: number }).port;
  await new Promise<void>((r) => dead.close(() => r()));
  const p = new FaultProxy('t', [{ host: '127.0.0.1', port: deadPort }, { host: '127.0.0.1', port }], new Rng(3));
  await p.listen();
  try {
    for (let i = 0; i < 3; i++) {
      const c = client(p.port);
      c.s.write(`m${i}`);
      await waitFor('echo through the live target', () => c.got() === `m${i}`, 2000, 5);
      c.s.destroy();
    }
  } finally {
    await p.close();
    srv.close();
  }
});

test('a socket the proxy resets after its end() leaves a process that exits (resetAndDestroy there made Node 20 spin at exit)', { timeout: 30_000 }, async () => {
  const fixture = fileURLToPath(new URL('./fixtures/halfClosedExit.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', fixture], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  try {
    await waitFor('the fixture closed everything', () => out.includes('closed'), 20_000, 20).catch((e: Error) => {
      throw new Error(`${e.message}; exit ${String(child.exitCode)}; stderr: ${err.slice(0, 600)}`);
    });
    // Bounded: a process that spins in its exit cleanup never gets here.
    await waitFor('the fixture process exited', () => child.exitCode !== null, 10_000, 20);
    assert.equal(await exited, 0);
  } finally {
    child.kill('SIGKILL');
  }
});
