import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocketServer, type WebSocket } from 'ws';
import type { AddressInfo } from 'node:net';
import { FrameClient, maskedFrame, openRaw, waitFor, WaitTimeout, wsUrl } from '../src/index.js';
import WS from 'ws';

class JsonClient extends FrameClient {
  constructor(ws: WebSocket) {
    super(ws);
    ws.on('message', (d) => this.record(JSON.parse(d.toString()) as { type: string }));
  }
  sendFrame(frame: Record<string, unknown>): void {
    if (this.ws.readyState === WS.OPEN) this.ws.send(JSON.stringify(frame));
  }
}

async function echoServer(): Promise<{ wss: WebSocketServer; base: string; got: unknown[] }> {
  const got: unknown[] = [];
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((r) => wss.once('listening', r));
  wss.on('connection', (s) => {
    s.send(JSON.stringify({ type: 'message', seq: 1 }));
    s.on('message', (d) => {
      const f = JSON.parse(d.toString()) as { type: string; id?: string };
      got.push(f);
      if (f.type === 'bye') s.close(4000, 'bye');
      else if (f.id) s.send(JSON.stringify({ type: 'reply', id: f.id }));
    });
  });
  return { wss, base: `http://127.0.0.1:${(wss.address() as AddressInfo).port}`, got };
}

test('FrameClient: records frames, acks reliable messages, answers requests and records the close', async () => {
  const { wss, base, got } = await echoServer();
  try {
    const c = new JsonClient(new WS(wsUrl(base, { a: '1' })));
    await c.waitFor((f) => f.type === 'message');
    await waitFor('the ack', () => got.some((f) => (f as { type: string }).type === 'ack'), 2000);
    const r = await c.request({ type: 'sub' });
    assert.equal(r.type, 'reply');
    c.sendFrame({ type: 'bye' });
    assert.deepEqual(await c.waitClosed(), { code: 4000, reason: 'bye' });
    assert.equal(c.messages().length, 1);
  } finally {
    wss.close();
  }
});

test('openRaw records the close code; wsUrl maps http to ws with the query', async () => {
  const { wss, base } = await echoServer();
  try {
    assert.equal(wsUrl('https://h:1', { x: 'y z' }).toString(), 'wss://h:1/ws?x=y+z');
    const r = openRaw(wsUrl(base).toString());
    assert.equal(await r.opened, true);
    r.send(JSON.stringify({ type: 'bye' }));
    assert.equal((await r.closed).code, 4000);
    assert.equal(r.messages.length, 1);
  } finally {
    wss.close();
  }
});

test('maskedFrame masks the payload and sets FIN, opcode and length', () => {
  const f = maskedFrame(0x1, Buffer.from('hi'), Buffer.from([1, 2, 3, 4]));
  assert.deepEqual([...f], [0x81, 0x82, 1, 2, 3, 4, 'h'.charCodeAt(0) ^ 1, 'i'.charCodeAt(0) ^ 2]);
  assert.equal(maskedFrame(0x2, Buffer.alloc(300))[1], 0x80 | 126);
});

test('waitFor gives up at its deadline naming what it waited for', async () => {
  await assert.rejects(waitFor('never', () => false, 100, 10), (e: unknown) => e instanceof WaitTimeout && /waiting for never/.test((e as Error).message));
});
