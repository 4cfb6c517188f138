/**
 * SSE under faults: a stalled reader is cut like a slow WebSocket consumer
 * (4009, memory bounded); streams work through the stress suite's TCP fault
 * proxy (cut → resume with Last-Event-ID, nothing lost) and behind an
 * HTTP/1.1 proxy that forwards each chunk as it comes (flush per event).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tcp } from 'node:net';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { nodeFactory, publish, token, waitUntil } from '../helpers/harness.js';
import { SseReader, sseUrl } from '../helpers/sseClient.js';
import { FaultProxy } from '../../../stress/src/faultProxy.js';
import { Rng } from '../../../stress/src/rng.js';

const node = nodeFactory();

test('a reader that stops reading is cut as a slow consumer (4009) and leaves the registry', async () => {
  const n = await node({ outboundBufferBytes: 64 * 1024 });
  const tok = await token('stall');
  const sock = tcp({ host: '127.0.0.1', port: n.port });
  sock.on('error', () => {});
  await new Promise<void>((r) => sock.once('connect', () => r()));
  sock.write(`GET /sse?token=${tok}&device=stuck HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n`);
  await waitUntil(() => n.gateway.registry.device('default', 'stall', 'stuck') ?? undefined, 3000, 'stream active');
  sock.pause(); // never read again
  const big = 'x'.repeat(30_000);
  let cut = false;
  for (let i = 0; i < 400 && !cut; i++) {
    await publish(n, { to: { user: 'stall' }, data: big, reliable: false });
    cut = n.gateway.registry.device('default', 'stall', 'stuck') === undefined;
  }
  assert.ok(cut, 'the stalled stream was cut');
  const metrics = await (await fetch(n.url + '/metrics')).text();
  assert.match(metrics, /herald_disconnects_total\{code="4009"/);
  sock.destroy();
});

test('through the TCP fault proxy: a cut stream resumes with Last-Event-ID and every reliable message arrives once, in order', async () => {
  const n = await node();
  const proxy = new FaultProxy('sse', [{ host: '127.0.0.1', port: n.port }], new Rng(22));
  await proxy.listen();
  try {
    const tok = await token('fp');
    const base = `http://127.0.0.1:${proxy.port}`;
    const got: number[] = [];
    let last: string | undefined;
    let r = new SseReader(sseUrl(base, { token: tok, device: 'x' }));
    await r.welcome();
    proxy.setLatency(5, 5);
    for (let i = 1; i <= 20; i++) {
      await publish(n, { to: { user: 'fp' }, data: i });
      if (i === 10) {
        await r.waitFor((x) => x.seqs().includes(5), 5000, 'half way');
        proxy.cut();
        await r.waitFor((x) => x.ended, 5000, 'cut seen');
        got.push(...r.seqs());
        last = r.events.filter((e) => e.id !== undefined).at(-1)?.id;
        r = new SseReader(sseUrl(base, { token: tok, device: 'x' }), last !== undefined ? { 'last-event-id': last } : {});
        await r.welcome();
      }
    }
    await r.waitFor((x) => x.seqs().includes(20), 5000, 'all 20');
    got.push(...r.seqs());
    assert.deepEqual(got, Array.from({ length: 20 }, (_, i) => i + 1));
    r.abort();
  } finally {
    await proxy.close();
  }
});

/** A plain HTTP/1.1 reverse proxy that forwards each chunk at once (what nginx does with X-Accel-Buffering: no). */
async function forwardingProxy(target: number): Promise<{ srv: Server; port: number; sawNoBuffering: () => boolean }> {
  let noBuffering = false;
  const srv = createServer((req, res) => {
    const up = request({ host: '127.0.0.1', port: target, path: req.url, method: req.method, headers: req.headers }, (ur) => {
      if (ur.headers['x-accel-buffering'] === 'no') noBuffering = true;
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      ur.on('data', (c: Buffer) => res.write(c));
      ur.on('end', () => res.end());
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
    res.on('close', () => up.destroy());
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  return { srv, port: (srv.address() as AddressInfo).port, sawNoBuffering: () => noBuffering };
}

test('behind an HTTP/1.1 proxy each event arrives as it is published (no buffering), and acks go through it', async () => {
  const n = await node();
  const p = await forwardingProxy(n.port);
  try {
    const tok = await token('hp');
    const base = `http://127.0.0.1:${p.port}`;
    const r = new SseReader(sseUrl(base, { token: tok, device: 'y' }));
    await r.welcome();
    for (let i = 1; i <= 5; i++) {
      await publish(n, { to: { user: 'hp' }, data: i });
      // Each one is seen before the next is published: nothing waits in a buffer.
      await r.waitFor((x) => x.seqs().includes(i), 3000, `message ${i} alone`);
    }
    assert.ok(p.sawNoBuffering());
    const res = await fetch(base + '/sse/ack', { method: 'POST', headers: { authorization: `Bearer ${tok}`, 'content-type': 'application/json' }, body: JSON.stringify({ device: 'y', seq: 5 }) });
    assert.equal(res.status, 204);
    await waitUntil(async () => ((await n.engine.getCursor('default', 'hp', 'y')) === 5 ? true : undefined), 3000, 'cursor');
    r.abort();
  } finally {
    p.srv.closeAllConnections();
    p.srv.close();
  }
});
