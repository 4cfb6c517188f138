/**
 * The stress suite's SSE device against a scripted stream server: it dedupes by
 * seq, acks by POST, resumes with Last-Event-ID after a cut; and its recording
 * fed to the delivery check shows a message the server skipped (the check can fail).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { checkDelivery } from '../src/invariants.js';
import type { PublishRecord } from '../src/recording.js';
import { Rng } from '../src/rng.js';
import { SseDevice } from '../src/sseClient.js';
import { waitFor } from '../src/wait.js';

const welcome = (lastSeq: number): string => `event: welcome\ndata: ${JSON.stringify({ type: 'welcome', node: 'n1', last_seq: lastSeq, recovered: true, heartbeat_ms: 1000 })}\n\n`;
const message = (seq: number): string => `id: ${seq}\nevent: message\ndata: ${JSON.stringify({ type: 'message', seq, data: { p: seq, t: 't1' } })}\n\n`;

/** Stream 1 sends seqs 1, 2, 2 (a resend) then is cut; stream 2 resumes after Last-Event-ID and sends `resume`. */
async function scripted(resume: number[]): Promise<{ port: number; lastEventIds: (string | undefined)[]; acks: number[]; close(): Promise<void> }> {
  const lastEventIds: (string | undefined)[] = [];
  const acks: number[] = [];
  const srv = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.method === 'POST') {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        acks.push((JSON.parse(body) as { seq: number }).seq);
        res.writeHead(204).end();
      });
      return;
    }
    const lei = req.headers['last-event-id'];
    lastEventIds.push(typeof lei === 'string' ? lei : undefined);
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    if (lastEventIds.length === 1) {
      res.write(welcome(0) + message(1) + message(2) + ': hb\n\n');
      res.write(message(2));
      setTimeout(() => res.socket?.resetAndDestroy(), 100);
    } else {
      res.write(welcome(Number(lei ?? 0)) + resume.map(message).join(''));
    }
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as AddressInfo).port;
  return {
    port,
    lastEventIds,
    acks,
    close: () => new Promise<void>((r) => {
      srv.closeAllConnections();
      srv.close(() => r());
    }),
  };
}

const publishes = (n: number): PublishRecord[] => Array.from({ length: n }, (_, i) => ({ pid: i + 1, tenant: 't1', users: ['u'], status: 200, seq: { u: i + 1 }, index: i }));

async function run(resume: number[]): Promise<{ d: SseDevice; s: Awaited<ReturnType<typeof scripted>> }> {
  const s = await scripted(resume);
  const d = new SseDevice({ tenant: 't1', user: 'u', device: 'd0', jwtSecret: 'x'.repeat(32), streamPort: s.port, postPort: () => s.port, publishIndex: () => 0, rng: new Rng(1), ackLossRate: 0 });
  await d.connect();
  return { d, s };
}

test('sse device: dedupes a resend, acks by POST, resumes with Last-Event-ID after a cut', async () => {
  const { d, s } = await run([3, 4]);
  try {
    await waitFor('seq 4', () => d.rec.delivered.some((m) => m.seq === 4), 5000);
    assert.deepEqual(d.rec.delivered.map((m) => m.seq), [1, 2, 3, 4]);
    assert.equal(d.rec.duplicatesDropped, 1);
    assert.deepEqual(s.lastEventIds, [undefined, '2']);
    await waitFor('ack of 4', () => s.acks.includes(4), 5000);
    assert.deepEqual(checkDelivery(publishes(4), [d.rec]), []);
  } finally {
    d.close();
    await s.close();
  }
});

test('sse device: a seq the server skipped on resume is reported lost by the delivery check', async () => {
  const { d, s } = await run([4]);
  try {
    await waitFor('seq 4', () => d.rec.delivered.some((m) => m.seq === 4), 5000);
    const v = checkDelivery(publishes(4), [d.rec]);
    assert.equal(v.length, 1);
    assert.match(v[0]?.detail ?? '', /never delivered, seq 3/);
  } finally {
    d.close();
    await s.close();
  }
});
