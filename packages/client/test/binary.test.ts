/**
 * Protocol v2 (`herald.v2.bin`) in the SDK, against the in-process fake server
 * speaking binary frames: negotiation, auth, acks with the seq in the header,
 * dedupe, resume, compression in both directions, in-order decoding of
 * compressed and uncompressed frames, and malformed input (close 4000).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BINARY_SUBPROTOCOL, BinaryFrameType, HeaderOffset, encodeV1, type BinaryProtocolError } from '@herald/protocol';
import { HeraldError, memoryStore, type HeraldClient, type HeraldMessage } from '../src/index.js';
import { deflate, type FakeConn, type FakeServer } from './helpers/fakeServer.js';
import { makeClient, withServer } from './helpers/setup.js';
import { fakeJwt, record, waitForCount, waitForEvent } from './helpers/wait.js';

function binaryClient(server: FakeServer, clients: HeraldClient[], options: Parameters<typeof makeClient>[1] = {}): HeraldClient {
  const c = makeClient(server, { protocol: 'binary', ...options });
  clients.push(c);
  return c;
}

async function connected(server: FakeServer, client: HeraldClient, welcome: Record<string, unknown> = {}): Promise<FakeConn> {
  void client.connect();
  const conn = await server.nextConnection();
  await conn.accept(welcome);
  await waitForEvent(client, 'connected');
  return conn;
}

/** Realistic, compressible JSON of about `bytes` bytes. */
function order(n: number, bytes: number): Record<string, unknown> {
  const lines: Record<string, unknown>[] = [];
  const o = { order_id: `ord-${n}`, table: 7, lines };
  for (let i = 0; JSON.stringify(o).length < bytes; i++) lines.push({ sku: `SKU-${(i * 7919) % 1000}`, qty: 1 + (i % 3), price_cents: 250 + i * 35 });
  return o;
}

test('binary: offers herald.v2.bin and deflate, authenticates with an Auth frame, never sends text', () =>
  withServer(async (server, clients) => {
    const client = binaryClient(server, clients, { device: 'pos-1' });
    void client.connect();
    const conn = await server.nextConnection();
    assert.equal(conn.binary, true);
    assert.equal(conn.socket.protocol, BINARY_SUBPROTOCOL);
    assert.equal(conn.query.get('compression'), 'deflate', 'Node 20 has CompressionStream("deflate-raw"): auto offers deflate');
    assert.equal(conn.query.get('device'), 'pos-1');
    assert.equal(await conn.accept({ user: 'alice' }), 'tok-1');
    assert.equal(conn.decoded[0]!.type, BinaryFrameType.Auth);
    const welcome = await waitForEvent(client, 'connected');
    assert.equal(welcome.user, 'alice');
    assert.equal((welcome as { compression?: string }).compression, 'deflate');

    // Requests, replies and presence events go through the same code path as v1.
    const joined = client.join('lobby');
    const join = await conn.next('join');
    assert.equal(conn.decoded.at(-1)!.type, BinaryFrameType.JoinRequest);
    conn.send({ type: 'reply', id: join.id, ok: true, room: 'lobby' });
    assert.equal((await joined).ok, true);
    const presence = waitForEvent(client, 'presence');
    conn.send({ type: 'join', room: 'lobby', user: 'bob', device: 'd' });
    assert.deepEqual(await presence, { type: 'join', room: 'lobby', user: 'bob', device: 'd' });
    const published = client.publish('lobby', { text: 'hi' }, { event: 'chat' });
    const pub = await conn.next('publish');
    assert.equal(conn.decoded.at(-1)!.type, BinaryFrameType.Publish);
    assert.deepEqual(pub.data, { text: 'hi' });
    conn.send({ type: 'error', id: pub.id, code: 'not_joined', message: 'no' });
    await assert.rejects(published, (e: HeraldError) => e.code === 'server' && e.serverCode === 'not_joined');
    assert.equal(conn.textFrames, 0);
  }));

test('binary: compression "none" offers nothing; tokenTransport "query" sends no Auth frame', () =>
  withServer(async (server, clients) => {
    const client = binaryClient(server, clients, { compression: 'none', tokenTransport: 'query' });
    void client.connect();
    const conn = await server.nextConnection();
    assert.equal(conn.binary, true);
    assert.equal(conn.query.get('compression'), null);
    assert.equal(conn.query.get('token'), 'tok-1');
    await conn.accept();
    const welcome = await waitForEvent(client, 'connected');
    assert.equal((welcome as { compression?: string }).compression, 'none');
    const presence = client.presence('r1');
    const frame = await conn.nextAny();
    assert.equal(frame.type, 'presence', 'the first frame after welcome is the request, not an auth frame');
    conn.send({ type: 'reply', id: frame.id, ok: true, members: [] });
    assert.deepEqual((await presence).members, []);
  }));

test('binary: reliable messages are acked with the seq in the Ack header, deduped, and resumed with last_seq', () =>
  withServer(async (server, clients) => {
    const store = memoryStore();
    const client = binaryClient(server, clients, { store, token: fakeJwt({ sub: 'u1' }), device: 'd1' });
    const messages = record(client, 'message');
    const conn = await connected(server, client);
    for (const seq of [1, 2, 2, 1, 3]) conn.message(seq);
    conn.message(undefined, { live: true });
    await waitForCount(client, 'message', messages, 4);
    assert.deepEqual(
      messages.map((m) => m.seq ?? 'live'),
      [1, 2, 3, 'live'],
    );
    assert.equal(client.stats.duplicatesDropped, 2);
    const ack = await conn.next('ack', (f) => f.seq === 3);
    assert.equal(ack.seq, 3);
    const d = conn.decoded.find((x) => x.type === BinaryFrameType.Ack && x.seq === 3)!;
    assert.equal(d.payload, null, 'an Ack carries its seq in the header and has no payload');
    assert.equal(conn.raw[conn.decoded.indexOf(d)]!.length, 16, 'an Ack frame is the bare 16-byte header');
    // A duplicate of an acked seq is re-acked so the server stops retrying.
    conn.message(2);
    await conn.next('ack', (f) => f.seq === 3);

    // Resume: the next socket carries last_seq, replays overlap, new seqs are delivered once.
    conn.close(1001, 'going away');
    const conn2 = await server.nextConnection();
    assert.equal(conn2.binary, true);
    assert.equal(conn2.query.get('last_seq'), '3');
    await conn2.accept();
    for (const seq of [3, 4, 5]) conn2.message(seq);
    await waitForCount(client, 'message', messages, 6);
    assert.deepEqual(
      messages.map((m) => m.seq ?? 'live'),
      [1, 2, 3, 'live', 4, 5],
    );
    await conn2.next('ack', (f) => f.seq === 5);
    assert.equal(await store.get('herald:last_seq:default:u1:d1'), 5);
  }));

test('binary: a big compressed frame and the small uncompressed ones after it are delivered in arrival order', () =>
  withServer(async (server, clients) => {
    const client = binaryClient(server, clients);
    const messages = record(client, 'message');
    const conn = await connected(server, client);
    assert.ok(conn.compressor, 'deflate negotiated');
    const big = order(1, 200_000);
    // Interleave: every compressed frame needs the asynchronous DecompressionStream, the small ones decode at once.
    const expected: unknown[] = [];
    for (let i = 1; i <= 10; i++) {
      const data = i % 2 === 1 ? { ...big, i } : { i };
      expected.push(data);
      conn.message(i, data);
    }
    await waitForCount(client, 'message', messages, 10, 10_000);
    assert.deepEqual(
      messages.map((m) => m.seq),
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    );
    assert.deepEqual(
      messages.map((m) => m.data),
      expected,
    );
  }));

test('binary: the fake really compressed the big frames (check of the test itself)', () => {
  const big = encodeV1({ type: 'message', id: 'm', seq: 1, data: order(1, 5000), ts: 1 }, 'server', { compressor: deflate, threshold: 1024 });
  assert.equal(big[HeaderOffset.Compression], 1);
  const small = encodeV1({ type: 'message', id: 'm', seq: 2, data: { i: 2 }, ts: 1 }, 'server', { compressor: deflate, threshold: 1024 });
  assert.equal(small[HeaderOffset.Compression], 0);
});

test('binary: the client compresses large frames once deflate is negotiated, never before the welcome', () =>
  withServer(async (server, clients) => {
    // A token over the threshold: the Auth frame precedes the welcome, so it must go uncompressed.
    const token = fakeJwt({ sub: 'u1', pad: 'x'.repeat(3000) });
    const client = binaryClient(server, clients, { token });
    void client.connect();
    const conn = await server.nextConnection();
    assert.equal(await conn.accept(), token);
    assert.equal(conn.decoded[0]!.type, BinaryFrameType.Auth);
    assert.equal(conn.decoded[0]!.compression, 'none', 'nothing is compressed before the welcome');
    await waitForEvent(client, 'connected');

    const data = order(2, 20_000);
    const published = client.publish('lobby', data);
    // A small frame sent while the big one is being compressed must not overtake it.
    const presence = client.presence('lobby');
    const pub = await conn.nextAny();
    assert.equal(pub.type, 'publish');
    assert.deepEqual(pub.data, data);
    const d = conn.decoded.find((x) => x.type === BinaryFrameType.Publish)!;
    assert.equal(d.compression, 'deflate');
    assert.ok(conn.raw[conn.decoded.indexOf(d)]!.length < 20_000 / 3, 'compressed on the wire');
    const pres = await conn.nextAny();
    assert.equal(pres.type, 'presence');
    assert.equal(conn.decoded.find((x) => x.type === BinaryFrameType.PresenceRequest)!.compression, 'none', 'small frames stay uncompressed');
    conn.send({ type: 'reply', id: pub.id, ok: true });
    conn.send({ type: 'reply', id: pres.id, ok: true, members: [] });
    await published;
    await presence;
  }));

test('binary: an injected codec is offered by name and used to decode', () =>
  withServer(async (server, clients) => {
    const client = binaryClient(server, clients, { compression: deflate });
    const messages = record(client, 'message');
    void client.connect();
    const conn = await server.nextConnection();
    assert.equal(conn.query.get('compression'), 'deflate');
    await conn.accept();
    await waitForEvent(client, 'connected');
    conn.message(1, order(1, 4000));
    conn.message(2);
    await waitForCount(client, 'message', messages, 2);
    assert.deepEqual(
      messages.map((m) => m.seq),
      [1, 2],
    );
    assert.throws(() => makeClient(server, { protocol: 'binary', compression: 'brotli' as never }), (e: HeraldError) => e.code === 'invalid_argument');
    assert.throws(() => makeClient(server, { protocol: 'msgpack' as never }), (e: HeraldError) => e.code === 'invalid_argument');
  }));

/** Connects a binary client, feeds `corrupt` to it and checks: close 4000 from the client, a typed error, no reconnect. */
async function expectProtocolError(server: FakeServer, clients: HeraldClient[], corrupt: (conn: FakeConn) => void, binaryCode: string | undefined, welcome: Record<string, unknown> = {}): Promise<void> {
  const client = binaryClient(server, clients);
  const errors = record(client, 'error');
  const messages: HeraldMessage[] = record(client, 'message');
  const conn = await connected(server, client, welcome);
  conn.message(1);
  await waitForCount(client, 'message', messages, 1);
  const closed = waitForEvent(client, 'closed');
  corrupt(conn);
  // Frames after the bad one are never delivered.
  conn.message(2);
  assert.equal((await conn.closed).code, 4000, 'the client closes the socket with 4000');
  const ev = await closed;
  assert.equal(ev.code, 4000);
  assert.equal(ev.error?.code, 'terminal');
  assert.equal(ev.error?.closeCode, 4000);
  const bad = errors.find((e) => e.code === 'bad_frame');
  assert.ok(bad instanceof HeraldError, 'a bad_frame error is emitted');
  assert.equal(bad.closeCode, 4000);
  if (binaryCode !== undefined) assert.equal((bad.cause as BinaryProtocolError).code, binaryCode);
  assert.equal(client.state, 'closed');
  assert.equal(await server.connectsWithin(100), false, 'a protocol violation is terminal: no reconnect');
  assert.deepEqual(
    messages.map((m) => m.seq),
    [1],
  );
}

test('binary: a frame with a bad CRC closes the socket with 4000 and surfaces a bad_frame error', () =>
  withServer((server, clients) =>
    expectProtocolError(
      server,
      clients,
      (conn) => {
        const bytes = encodeV1({ type: 'message', id: 'x', seq: 9, data: { n: 9 }, ts: 1 }, 'server');
        bytes[bytes.length - 2] = bytes[bytes.length - 2]! ^ 0xff;
        conn.sendBytes(bytes);
      },
      'crc_mismatch',
    ),
  ));

test('binary: truncated frames, text frames and a codec that was not negotiated all close with 4000', () =>
  withServer(async (server, clients) => {
    await expectProtocolError(server, clients, (conn) => conn.sendBytes(new Uint8Array([0x48, 0x02, 0x02])), 'truncated');
    await expectProtocolError(server, clients, (conn) => conn.socket.send('{"type":"message","id":"t","data":1,"ts":1}'), undefined);
    // The welcome said none; a deflated frame then is bad_compression.
    await expectProtocolError(
      server,
      clients,
      (conn) => conn.sendBytes(encodeV1({ type: 'message', id: 'z', data: order(3, 4000), ts: 1 }, 'server', { compressor: deflate })),
      'bad_compression',
      { compression: 'none' },
    );
  }));

test('binary: heartbeat pings are Ping frames, answered by Pong frames', () =>
  withServer(async (server, clients) => {
    // A generous timeout: this test is about the frames, not about timing.
    const client = binaryClient(server, clients, { heartbeatTimeoutMs: 30_000 });
    const conn = await connected(server, client, { heartbeat_ms: 40 });
    const before = conn.pings;
    // Pings every 20 ms; the fake answers each with a Pong frame, so the connection stays up.
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no pings within 3 s')), 3000);
      const check = setInterval(() => {
        if (conn.pings >= before + 3) {
          clearInterval(check);
          clearTimeout(timer);
          resolve();
        }
      }, 5);
    });
    assert.ok(conn.decoded.some((d) => d.type === BinaryFrameType.Ping));
    assert.equal(client.state, 'connected');
    assert.equal(client.stats.connects, 1);
  }));

test('the class from @herald/client has no binary codec: protocol "binary" is refused with a pointer to @herald/client/binary', async () => {
  const { HeraldClient: JsonOnly } = await import('../src/index.js');
  const { HeraldClient: WithBinary } = await import('../src/binary.js');
  const WebSocket = class {} as never;
  assert.throws(
    () => new JsonOnly({ url: 'ws://127.0.0.1:1/ws', token: 't', WebSocket, protocol: 'binary' }),
    (e: HeraldError) => e.code === 'invalid_argument' && e.message.includes("'@herald/client/binary'"),
  );
  // The same API either way; the binary entry's class is a HeraldClient too.
  const c = new WithBinary({ url: 'ws://127.0.0.1:1/ws', token: 't', WebSocket, protocol: 'binary' });
  assert.ok(c instanceof JsonOnly);
  assert.equal(c.state, 'idle');
  new JsonOnly({ url: 'ws://127.0.0.1:1/ws', token: 't', WebSocket });
});
