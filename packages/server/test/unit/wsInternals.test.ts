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

/** A ws server on a loopback port (`options` as WebSocketServer's); `connect()` resolves once a new client's both ends are open. */
async function wsServer(options: Record<string, unknown> = {}) {
  const server = createServer();
  const wss = new WebSocketServer({ ...options, server } as ConstructorParameters<typeof WebSocketServer>[0]);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const clients: WebSocket[] = [];
  return {
    async connect(): Promise<{ client: WebSocket; ws: WebSocket }> {
      const serverSide = new Promise<WebSocket>((r) => wss.once('connection', r));
      const client = new WebSocket(url);
      clients.push(client);
      await new Promise<void>((r) => client.once('open', () => r()));
      return { client, ws: await serverSide };
    },
    close(): void {
      for (const c of clients) c.close();
      wss.close();
      server.close();
    },
  };
}

test('socketOf gives the net.Socket under a server-side WebSocket, and a frame written to it reaches the client', async () => {
  const srv = await wsServer();
  const { client, ws } = await srv.connect();
  const got = new Promise<string>((r) => client.once('message', (d) => r(String(d))));
  const socket = socketOf(ws);
  assert.ok(socket instanceof Socket);
  socket.write(Buffer.concat(wsFrame(Buffer.from('raw'), { fin: true, rsv1: false, opcode: 1, mask: false, readOnly: false })));
  assert.equal(await got, 'raw');
  srv.close();
});

test('GatewayWebSocket: no per-socket autoPong closure, yet every ping is answered and counted as written (maxPendingAutoPongs still applies)', async () => {
  const { GatewayWebSocket } = await import('../../src/gateway/connection.js');
  // A low limit: were the written pongs not counted down, the 10th ping would close the socket.
  const srv = await wsServer({ WebSocket: GatewayWebSocket, maxPendingAutoPongs: 3 });
  const { client, ws } = await srv.connect();
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
  srv.close();
});

/** The Receiver of a server-side socket, as reuseFragmentList sees it. */
function fragmentsOf(ws: WebSocket): Buffer[] {
  return (ws as unknown as { _receiver: { _fragments: Buffer[] } })._receiver._fragments;
}

test("ws's Receiver replaces its fragment list after every message (what reuseFragmentList works around)", async () => {
  const srv = await wsServer();
  const { client, ws } = await srv.connect();
  const before = fragmentsOf(ws);
  assert.ok(Array.isArray(before) && before.length === 0);
  const got = new Promise<void>((r) => ws.once('message', () => r()));
  client.send('one');
  await got;
  const after = fragmentsOf(ws);
  assert.notEqual(after, before, 'a fresh list per message');
  assert.deepEqual(before.map(String), ['one'], 'the dropped list still holds the frame');
  srv.close();
});

test("GatewayWebSocket: each message is collected in the socket's own list, empty between messages; fragmented, binary and back-to-back messages arrive whole", async () => {
  const { GatewayWebSocket } = await import('../../src/gateway/connection.js');
  const srv = await wsServer({ WebSocket: GatewayWebSocket });
  const received: [string, string, boolean][] = [];
  let wanted = 0;
  let allReceived = (): void => {};
  const listOf = (ws: WebSocket) => (ws as unknown as { fragmentList: Buffer[] | undefined }).fragmentList;
  /** A client and its server-side GatewayWebSocket, whose Connection hooks record each message. */
  const open = async (name: string): Promise<[WebSocket, WebSocket]> => {
    const { client, ws } = await srv.connect();
    (ws as unknown as { conn: unknown }).conn = {
      hooks: {
        onMessage: (_c: unknown, data: Buffer, binary: boolean) => {
          received.push([name, binary ? data.toString('hex') : data.toString(), binary]);
          if (received.length === wanted) allReceived();
        },
        onPing: () => {},
        onClose: () => {},
        onError: () => {},
      },
    };
    return [client, ws];
  };
  const [a, aServer] = await open('a');
  const [b, bServer] = await open('b');
  assert.equal(listOf(aServer), undefined, 'no list before the first message');
  wanted = 43;
  const done = new Promise<void>((r) => (allReceived = r));
  // A fragmented message on a, with a whole message on b between its frames; then a burst on each.
  a.send('frag-', { fin: false });
  b.send('b1');
  a.send('ment-', { fin: false });
  a.send('ed', { fin: true });
  a.send(Buffer.from([1, 2, 3]), { binary: true });
  for (let i = 0; i < 20; i++) {
    a.send(`a${i}`);
    b.send(`b${i + 2}`);
  }
  await done;
  const on = (name: string) => received.filter((m) => m[0] === name).map((m) => [m[1], m[2]]);
  assert.deepEqual(on('a'), [['frag-ment-ed', false], ['010203', true], ...Array.from({ length: 20 }, (_, i) => [`a${i}`, false])]);
  assert.deepEqual(on('b'), Array.from({ length: 21 }, (_, i) => [`b${i + 1}`, false]));
  for (const ws of [aServer, bServer]) {
    const list = listOf(ws);
    assert.ok(Array.isArray(list), 'the socket has its own list');
    assert.equal(fragmentsOf(ws), list, "the Receiver collects the next message in the socket's list");
    assert.equal(list.length, 0, 'which holds nothing between messages');
  }
  srv.close();
});
