/**
 * The ws internals Herald relies on (protocol/wsInternals.ts), pinned to the
 * installed ws: an upgrade that moves `Sender.frame` or `_socket` fails here,
 * not in production.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { createServer } from 'node:http';
import { Socket, type AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { socketOf, wsFrame, WS_INTERNALS_CHECKED } from '../../src/protocol/wsInternals.js';

const wsVersion = (createRequire(import.meta.url)('ws/package.json') as { version: string }).version;

test(`the installed ws (${wsVersion}) is the major these internals were checked against`, () => {
  assert.ok(wsVersion.startsWith(WS_INTERNALS_CHECKED), `ws ${wsVersion}: re-check protocol/wsInternals.ts, then update WS_INTERNALS_CHECKED`);
});

test('Sender.frame builds an unmasked final text frame: header then payload', () => {
  const payload = Buffer.from('hello', 'utf8');
  const parts = wsFrame(payload, { fin: true, rsv1: false, opcode: 1, mask: false, readOnly: false });
  const frame = Buffer.concat(parts);
  assert.equal(frame[0], 0x81, 'FIN + text opcode');
  assert.equal(frame[1], payload.length, 'unmasked, 7-bit length');
  assert.equal(frame.subarray(2).toString(), 'hello');
  const big = Buffer.concat(wsFrame(Buffer.alloc(70_000), { fin: true, rsv1: false, opcode: 2, mask: false, readOnly: false }));
  assert.equal(big[1], 127, '64-bit extended length');
  assert.equal(big.length, 70_000 + 10);
});

test('socketOf gives the net.Socket under a server-side WebSocket, and a frame written to it reaches the client', async () => {
  const server = createServer();
  const wss = new WebSocketServer({ server });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const serverSide = new Promise<WebSocket>((r) => wss.once('connection', r));
  const client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`);
  const got = new Promise<string>((r) => client.once('message', (d) => r(String(d))));
  const ws = await serverSide;
  const socket = socketOf(ws);
  assert.ok(socket instanceof Socket);
  socket.write(Buffer.concat(wsFrame(Buffer.from('raw'), { fin: true, rsv1: false, opcode: 1, mask: false, readOnly: false })));
  assert.equal(await got, 'raw');
  client.close();
  wss.close();
  server.close();
});

test('GatewayWebSocket: no per-socket autoPong closure, yet every ping is answered and counted as written (maxPendingAutoPongs still applies)', async () => {
  const { GatewayWebSocket } = await import('../../src/gateway/connection.js');
  const server = createServer();
  // A low limit: were the written pongs not counted down, the 10th ping would close the socket.
  const wss = new WebSocketServer({ server, WebSocket: GatewayWebSocket, maxPendingAutoPongs: 3 } as ConstructorParameters<typeof WebSocketServer>[0]);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const serverSide = new Promise<WebSocket>((r) => wss.once('connection', r));
  const client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`);
  await new Promise<void>((r) => client.once('open', () => r()));
  const ws = await serverSide;
  assert.ok(ws instanceof GatewayWebSocket);
  assert.ok(!Object.prototype.hasOwnProperty.call(ws, '_autoPongComplete'), 'no closure kept on the socket');
  let pongs = 0;
  client.on('pong', () => pongs++);
  for (let i = 0; i < 10; i++) {
    client.ping();
    await new Promise<void>((r) => client.once('pong', () => r()));
  }
  assert.equal(pongs, 10);
  assert.equal(ws.readyState, WebSocket.OPEN);
  assert.equal((ws as unknown as { _pendingAutoPongs: number })._pendingAutoPongs, 0, 'each written pong counted down');
  client.close();
  wss.close();
  server.close();
});
