/**
 * Protocol v2 (`herald.v2.bin`) through a real node: negotiation, every frame
 * kind in both directions, reliable delivery with header seqs and acks,
 * encode-once fan-out to a mix of v1 and v2 clients, compression, and
 * malformed input (each closing only the offending connection).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { deflateRawSync } from 'node:zlib';
import WebSocket from 'ws';
import {
  BINARY_SUBPROTOCOL,
  BinaryFrameType,
  CloseCode,
  crc32,
  encodeFrame,
  writeHeader,
} from '@herald/protocol';
import type { HeraldNode } from '../../src/node.js';
import type { Connection } from '../../src/gateway/connection.js';
import { nodeCodecs, nodeCompressor } from '../../src/protocol/nodeCompressors.js';
import { connect, open, publish, startNode, token, waitUntil, type Frame } from '../helpers/harness.js';
import { connectV2, openV2, type V2Client } from './v2Client.js';

let node: HeraldNode;
const opened: { close(): void }[] = [];
const deflate = nodeCompressor('deflate');

/** Realistic order JSON of about `bytes` bytes. */
function order(n: number, bytes: number): Record<string, unknown> {
  const lines: Record<string, unknown>[] = [];
  const o = { order_id: `ord-${n}`, table: 7, currency: 'EUR', created_at: '2026-11-21T11:00:00Z', lines };
  for (let i = 0; JSON.stringify(o).length < bytes; i++) {
    lines.push({ sku: `SKU-${(i * 7919) % 1000}`, name: ['Flat white', 'Croissant', 'Club sandwich', 'Orange juice'][i % 4], qty: 1 + (i % 3), price_cents: 250 + i * 35, notes: i % 5 === 0 ? 'no onions' : '' });
  }
  return o;
}

async function v2(user: string, o: Parameters<typeof connectV2>[2] = {}): Promise<V2Client> {
  const c = await connectV2(node, user, o);
  opened.push(c);
  return c;
}

function localConn(tenant: string, user: string, device: string): Connection {
  const c = node.gateway.registry.device(tenant, user, device);
  assert.ok(c, `${user}/${device} is connected`);
  return c as Connection; // a WebSocket connection (the registry also holds SSE sessions)
}

before(async () => {
  node = await startNode({ ackTimeoutMs: 2000 });
});

after(async () => {
  for (const c of opened) c.close();
  await node.close();
});

test('negotiation: herald.v2.bin when offered, compression from the query, JSON stays the default', async () => {
  const plain = await v2('neg', { device: 'plain' });
  assert.equal(plain.ws.protocol, BINARY_SUBPROTOCOL);
  const welcome = plain.frames[0]!;
  assert.equal(welcome.type, 'welcome');
  assert.equal(plain.decoded[0]!.type, BinaryFrameType.Welcome);
  assert.equal(welcome.compression, 'none');
  assert.equal(welcome.compression_threshold, 1024);
  assert.equal(welcome.user, 'neg');

  const z = await v2('neg', { device: 'z', compression: 'zstd,deflate' });
  // The client's order wins among what this runtime has (no zstd before Node 22.15).
  assert.equal(z.frames[0]!.compression, nodeCodecs()[0]);
  const d = await v2('neg', { device: 'd', compression: 'br, Deflate' });
  assert.equal(d.frames[0]!.compression, 'deflate');
  const n = await v2('neg', { device: 'n', compression: 'none,deflate' });
  assert.equal(n.frames[0]!.compression, 'none');

  // v1: no subprotocol, text welcome without compression fields.
  const v1 = await connect(node, 'neg', { device: 'v1' });
  opened.push(v1);
  assert.equal(v1.ws.protocol, '');
  assert.equal(v1.frames[0]!.type, 'welcome');
  assert.equal('compression' in v1.frames[0]!, false);
  // A client offering only other subprotocols keeps ws's default (the first offered) and speaks v1.
  const other = open(node, { token: await token('neg'), device: 'other' }, { protocols: ['chat.v9', 'x'] } as WebSocket.ClientOptions);
  opened.push(other);
  await other.waitFor((f) => f.type === 'welcome');
  assert.equal(other.ws.protocol, 'chat.v9');
  // Offered among others, v2 is picked.
  const mixed = openV2(node, { token: await token('neg'), device: 'mixed' }, ['chat.v9', BINARY_SUBPROTOCOL]);
  opened.push(mixed);
  await mixed.waitFor((f) => f.type === 'welcome');
  assert.equal(mixed.ws.protocol, BINARY_SUBPROTOCOL);
  for (const c of [plain, z, d, n, mixed]) assert.equal(c.textFrames, 0);
});

test('round trip: welcome, reply, error, room message, presence events, pong — all binary', async () => {
  const a = await v2('rt-a', { device: 'a' });
  const b = await v2('rt-b', { device: 'b' });
  const joined = await a.request({ type: 'join', room: 'deck' });
  assert.equal(joined.type, 'reply');
  assert.equal(joined.ok, true);
  assert.equal(joined.room, 'deck');
  assert.equal(a.decoded[a.frames.indexOf(joined)]!.type, BinaryFrameType.Reply);
  assert.equal((await b.request({ type: 'join', room: 'deck' })).type, 'reply');
  const ev = await a.waitFor((f) => f.type === 'join' && f.user === 'rt-b');
  assert.equal(a.decoded[a.frames.indexOf(ev)]!.type, BinaryFrameType.PresenceJoin);

  const bad = await a.request({ type: 'join', room: 'bad room!' });
  assert.equal(bad.type, 'error');
  assert.equal(bad.code, 'bad_field');
  assert.equal(a.decoded[a.frames.indexOf(bad)]!.type, BinaryFrameType.Error);
  const notJoined = await a.request({ type: 'publish', room: 'elsewhere', data: 1 });
  assert.equal(notJoined.code, 'not_joined');

  const pub = await a.request({ type: 'publish', room: 'deck', data: { text: 'hello' }, event: 'chat' });
  assert.equal(pub.type, 'reply');
  const got = await b.waitFor((f) => f.type === 'message' && f.event === 'chat');
  assert.deepEqual(got.data, { text: 'hello' });
  assert.equal(got.from, 'rt-a');
  assert.equal(got.room, 'deck');
  assert.equal('seq' in got, false, 'room messages are unreliable: header seq 0');
  assert.equal(b.decoded[b.frames.indexOf(got)]!.seq, 0);

  const members = await a.request({ type: 'presence', room: 'deck' });
  assert.deepEqual((members.members as { user: string }[]).map((m) => m.user).sort(), ['rt-a', 'rt-b']);

  a.ping();
  const pong = await a.waitFor((f) => f.type === 'pong');
  const pongRaw = a.rawOf(pong);
  assert.equal(pongRaw.length, 16, 'pong is a bare header');
  assert.equal(pongRaw[2], BinaryFrameType.Pong);

  await b.request({ type: 'leave', room: 'deck' });
  await a.waitFor((f) => f.type === 'leave' && f.user === 'rt-b');
  for (const c of [a, b]) {
    assert.equal(c.textFrames, 0);
    assert.deepEqual(c.decodeErrors, []);
  }
});

test('authentication by an Auth frame when the URL has no token', async () => {
  const c = await connectV2(node, 'late', { withToken: false, device: 'x' });
  opened.push(c);
  await c.opened();
  c.sendFrame({ type: 'auth', token: await token('late') });
  const w = await c.waitFor((f) => f.type === 'welcome');
  assert.equal(w.user, 'late');
  assert.equal(w.device, 'x');
});

test('reliable messages carry their seq in the header; acks are Ack frames; the v2 frame is cached per message', async () => {
  const phone = await v2('rel', { device: 'phone', compression: 'deflate' });
  const pos = await v2('rel', { device: 'pos', compression: 'deflate' });
  const v1 = await connect(node, 'rel', { device: 'web' });
  opened.push(v1);
  const seen = new Map<string, Buffer[]>();
  const spied = ['phone', 'pos', 'web'].map((d) => localConn('default', 'rel', d));
  const originals = spied.map((c) => c.sendWire.bind(c));
  spied.forEach((c, i) => {
    c.sendWire = (frame) => {
      seen.set(c.device, [...(seen.get(c.device) ?? []), frame]);
      return originals[i]!(frame);
    };
  });
  try {
    for (let i = 1; i <= 3; i++) {
      const r = await publish(node, { to: { user: 'rel' }, data: i === 3 ? order(3, 3000) : { n: i }, event: 'order' });
      assert.equal(r.status, 200);
      assert.deepEqual(r.body.seq, { rel: i });
    }
    for (const c of [phone, pos]) {
      const msgs = await waitUntil(() => (c.messages().length >= 3 ? c.messages() : undefined), 5000, '3 reliable messages');
      assert.deepEqual(
        msgs.map((m) => m.seq),
        [1, 2, 3],
      );
      assert.deepEqual(msgs[0]!.data, { n: 1 });
      assert.deepEqual(msgs[2]!.data, order(3, 3000));
      assert.deepEqual(
        msgs.map((m) => c.decoded[c.frames.indexOf(m)]!.seq),
        [1, 2, 3],
        'seq travels in the header',
      );
      // The big one went compressed.
      assert.equal(c.rawOf(msgs[2]!)[3], 1);
      assert.equal(c.rawOf(msgs[0]!)[3], 0);
    }
    await v1.waitForCount((f) => f.type === 'message', 3);
  } finally {
    spied.forEach((c, i) => (c.sendWire = originals[i]!));
  }
  // Both v2 devices of the user got the very same Buffers; the v1 device its own.
  const [a, b, w] = [seen.get('phone')!, seen.get('pos')!, seen.get('web')!];
  assert.equal(a.length, 3);
  for (let i = 0; i < 3; i++) {
    assert.equal(a[i], b[i], `message ${i + 1}: one shared v2 frame`);
    assert.notEqual(a[i], w[i]);
  }
  // The autoAck frames moved each device's cursor.
  for (const d of ['phone', 'pos', 'web']) {
    await waitUntil(() => localConn('default', 'rel', d).reliable?.position.acked === 3 || undefined, 5000, `${d} acked 3`);
  }
});

test('resume on v2: replay from last_seq with header seqs', async () => {
  const first = await v2('resume', { device: 'd1' });
  first.autoAck = false;
  for (let i = 0; i < 4; i++) await publish(node, { to: { user: 'resume' }, data: { i } });
  await waitUntil(() => (first.messages().length === 4 ? true : undefined));
  first.sendFrame({ type: 'ack', seq: 2 });
  await waitUntil(() => localConn('default', 'resume', 'd1').reliable?.position.acked === 2 || undefined);
  first.close();
  await first.waitClosed();
  const again = await v2('resume', { device: 'd1', lastSeq: 2 });
  const msgs = await waitUntil(() => (again.messages().length >= 2 ? again.messages() : undefined));
  assert.deepEqual(
    msgs.map((m) => [m.seq, (m.data as { i: number }).i]),
    [
      [3, 2],
      [4, 3],
    ],
  );
  assert.equal(again.frames[0]!.last_seq, 2);
});

test('room fan-out to v1 and v2 clients: one frame per protocol and codec, byte-identical for every recipient', async () => {
  const v1a = await connect(node, 'mix-1', { device: 'a' });
  const v1b = await connect(node, 'mix-2', { device: 'b' });
  opened.push(v1a, v1b);
  const plainA = await v2('mix-3', { device: 'c' });
  const plainB = await v2('mix-4', { device: 'd' });
  const defA = await v2('mix-5', { device: 'e', compression: 'deflate' });
  const defB = await v2('mix-6', { device: 'f', compression: 'deflate' });
  for (const c of [v1a, v1b]) assert.equal((await c.request({ type: 'join', room: 'kitchen' })).type, 'reply');
  for (const c of [plainA, plainB, defA, defB]) assert.equal((await c.request({ type: 'join', room: 'kitchen' })).type, 'reply');

  const conns = [...node.gateway.registry.lookup({ kind: 'room', tenant: 'default', room: 'kitchen' })] as Connection[];
  assert.equal(conns.length, 6);
  const sent = new Map<string, Buffer>();
  const originals = conns.map((c) => c.sendWire.bind(c));
  conns.forEach((c, i) => {
    c.sendWire = (frame) => {
      sent.set(c.user, frame);
      return originals[i]!(frame);
    };
  });
  const data = order(1, 2500);
  try {
    const r = await publish(node, { to: { room: 'kitchen' }, data, event: 'order.created' });
    assert.equal(r.body.online, 6);
  } finally {
    conns.forEach((c, i) => (c.sendWire = originals[i]!));
  }
  // Built once per encoding: three distinct buffers for six recipients.
  assert.equal(sent.size, 6);
  assert.equal(sent.get('mix-1'), sent.get('mix-2'), 'v1 recipients share one buffer');
  assert.equal(sent.get('mix-3'), sent.get('mix-4'), 'uncompressed v2 recipients share one buffer');
  assert.equal(sent.get('mix-5'), sent.get('mix-6'), 'deflate v2 recipients share one buffer');
  assert.equal(new Set(sent.values()).size, 3);

  const isOrder = (f: Frame): boolean => f.type === 'message' && f.event === 'order.created';
  const got = await Promise.all([plainA, plainB, defA, defB].map((c) => c.waitFor(isOrder)));
  for (const f of got) assert.deepEqual(f.data, data);
  const bytes = [plainA, plainB, defA, defB].map((c, i) => c.rawOf(got[i]!));
  assert.deepEqual(bytes[0], bytes[1], 'byte-identical uncompressed frames');
  assert.deepEqual(bytes[2], bytes[3], 'byte-identical deflate frames');
  assert.equal(bytes[0]![3], 0);
  assert.equal(bytes[2]![3], 1, 'deflate above the threshold');
  assert.ok(bytes[2]!.length < bytes[0]!.length / 2, `compressed ${bytes[2]!.length} vs ${bytes[0]!.length}`);
  for (const c of [v1a, v1b]) assert.deepEqual((await c.waitFor(isOrder)).data, data);

  // A small message on a deflate connection stays uncompressed (and is the same bytes as for `none`).
  await publish(node, { to: { room: 'kitchen' }, data: { small: true }, event: 'small' });
  const small = await Promise.all([plainA, defA].map((c) => c.waitFor((f) => f.event === 'small')));
  assert.deepEqual(plainA.rawOf(small[0]!), defA.rawOf(small[1]!));
  assert.equal(defA.rawOf(small[1]!)[3], 0);
});

test('compressed client frames are accepted on a deflate connection, refused on one without', async () => {
  const def = await v2('cmp-a', { device: 'a', compression: 'deflate' });
  assert.equal((await def.request({ type: 'join', room: 'c-room' })).type, 'reply');
  const big = order(9, 4000);
  const id = 'big-pub';
  def.sendFrame({ type: 'publish', room: 'c-room', data: big, id }, deflate, 1024);
  const reply = await def.waitFor((f) => f.id === id);
  assert.equal(reply.type, 'reply');
  const echoed = await def.waitFor((f) => f.type === 'message' && f.room === 'c-room');
  assert.deepEqual(echoed.data, big);

  const none = await v2('cmp-b', { device: 'b' });
  none.sendFrame({ type: 'join', room: 'c-room' }, deflate, 0);
  const closed = await none.waitClosed();
  assert.equal(closed.code, CloseCode.ProtocolError);
  assert.match(closed.reason, /^bad_compression/);
});

test('malformed frames close with the error code named; the node keeps serving others', async () => {
  const watcher = await v2('bad-watch', { device: 'w' });
  const check = async (name: string, bytes: Uint8Array, code: number, reason: RegExp): Promise<void> => {
    const c = await v2('bad', { device: name });
    c.sendBytes(bytes);
    const closed = await c.waitClosed();
    assert.equal(closed.code, code, `${name}: ${closed.reason}`);
    assert.match(closed.reason, reason, name);
  };
  // CRC mismatch: a valid join with one payload byte flipped.
  const join = encodeFrame(BinaryFrameType.JoinRequest, { room: 'r1' });
  const flipped = join.slice();
  flipped[20]! ^= 0x01;
  await check('crc', flipped, CloseCode.ProtocolError, /^crc_mismatch/);
  // A header declaring 16 MiB − 1 bytes: refused on the header alone.
  const huge = new Uint8Array(32);
  writeHeader(huge, BinaryFrameType.Publish, 'none', 0, 0xffffff, 0);
  await check('declared-huge', huge, CloseCode.MessageTooBig, /^too_large/);
  // A decompression bomb: 4 MiB of zeros in a few KB, over the limit (maxFrameBytes = 64 KiB).
  const bomb = deflateRawSync(Buffer.alloc(4 * 1024 * 1024));
  const bombFrame = new Uint8Array(16 + bomb.length);
  writeHeader(bombFrame, BinaryFrameType.Publish, 'deflate', crc32(bomb), bomb.length, 0);
  bombFrame.set(bomb, 16);
  const bombC = await v2('bad', { device: 'bomb', compression: 'deflate' });
  bombC.sendBytes(bombFrame);
  const bc = await bombC.waitClosed();
  assert.equal(bc.code, CloseCode.MessageTooBig);
  assert.match(bc.reason, /^too_large/);
  // Garbage.
  await check('garbage', Buffer.from('not a frame at all, just bytes'), CloseCode.ProtocolError, /^bad_magic/);
  await check('short', new Uint8Array([0x48, 0x02, 0x41]), CloseCode.ProtocolError, /^truncated/);
  // A server → client type from the client.
  await check('direction', encodeFrame(BinaryFrameType.Reply, { id: 'x', ok: true }), CloseCode.ProtocolError, /^unknown_type/);
  // JSON that is not a v1 frame: the v1 validator answers with an error frame, the connection stays.
  const v = await v2('bad', { device: 'validator' });
  const e = await v.request({ type: 'sync', after: -1 });
  assert.equal(e.type, 'error');
  assert.equal(e.code, 'bad_sync');
  // A text frame on a v2 connection.
  const t = await v2('bad', { device: 'text' });
  t.ws.send('{"type":"ping"}');
  const tc = await t.waitClosed();
  assert.equal(tc.code, CloseCode.ProtocolError);
  assert.match(tc.reason, /text frames/);

  // Everyone else is still served.
  await publish(node, { to: { user: 'bad-watch' }, data: { still: 'here' } });
  const m = await watcher.waitFor((f) => f.type === 'message');
  assert.deepEqual(m.data, { still: 'here' });
  assert.equal(watcher.closed, undefined);
});

test('binary frames on a v1 connection still close 4000', async () => {
  const c = await connect(node, 'v1-binary');
  c.ws.send(encodeFrame(BinaryFrameType.Ping, null));
  const closed = await c.waitClosed();
  assert.equal(closed.code, CloseCode.ProtocolError);
  assert.match(closed.reason, /herald\.v2\.bin/);
});
