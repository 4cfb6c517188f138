import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32 as zlibCrc32 } from 'node:zlib';
import type { ClientFrame, MessageFrame, ServerFrame } from '../src/frames.js';
import {
  BinaryFrameType,
  BinaryProtocolError,
  FRAME_TYPES,
  type Compressor,
  type FrameSender,
  decodeFrame,
  encodeFrame,
  encodeV1,
  fromV1,
  toV1,
  withSeq,
} from '../src/binary/index.js';
import { codeOf } from './codeOf.js';

/** One v1 object per v2 frame type, with the optional fields present. */
const SAMPLES: { sender: FrameSender; frame: ServerFrame | ClientFrame; v2: number }[] = [
  { sender: 'server', v2: 0x01, frame: { type: 'welcome', conn: 'c1', node: 'n1', user: 'u1', tenant: 't', device: 'pos-1', heartbeat_ms: 25000, last_seq: 2 ** 33, recovered: true } },
  { sender: 'server', v2: 0x02, frame: { type: 'message', id: 'm1', seq: 2 ** 35 + 7, event: 'order', room: 'r', from: 'u2', data: { items: [1, 'двa', null], nested: { ok: true } }, ts: 1_763_700_000_000 } },
  { sender: 'server', v2: 0x03, frame: { type: 'reply', id: 'q1', ok: true, members: [{ user: 'u1', device: 'd' }] } },
  { sender: 'server', v2: 0x04, frame: { type: 'error', id: 'q2', code: 'not_joined', message: 'join the room first' } },
  { sender: 'server', v2: 0x05, frame: { type: 'join', room: 'r', user: 'u1', device: 'd1' } },
  { sender: 'server', v2: 0x06, frame: { type: 'leave', room: 'r', user: 'u1', device: 'd1' } },
  { sender: 'server', v2: 0x07, frame: { type: 'pong' } },
  { sender: 'server', v2: 0x08, frame: { type: 'message', id: 'm2', offset: 9, room: 'doc', data_b64: 'AAEC/w==', ts: 1_763_700_000_000 } as unknown as ServerFrame },
  { sender: 'server', v2: 0x09, frame: { type: 'state', room: 'doc', user: 'u1', device: 'd1', data: { cursor: 3 } } },
  {
    sender: 'server',
    v2: 0x0a,
    frame: {
      type: 'batch',
      messages: [
        { type: 'message', id: 'b1', room: 'hot', data: { n: 1 }, ts: 1_763_700_000_000 },
        { type: 'message', id: 'b2', room: 'hot', data_b64: 'AAEC/w==', ts: 1_763_700_000_001 } as unknown as MessageFrame,
        { type: 'message', id: 'b3', event: 'e', data: 'три', ts: 1_763_700_000_002, seq: 7 },
      ],
    },
  },
  { sender: 'client', v2: 0x41, frame: { type: 'auth', token: 'eyJ.x.y', id: 'a1' } },
  { sender: 'client', v2: 0x42, frame: { type: 'ack', seq: 2 ** 40 - 1 } },
  { sender: 'client', v2: 0x43, frame: { type: 'sync', after: 99, id: 's1' } },
  { sender: 'client', v2: 0x44, frame: { type: 'join', room: 'ops:eu', id: 'j1' } },
  { sender: 'client', v2: 0x45, frame: { type: 'leave', room: 'ops:eu' } },
  { sender: 'client', v2: 0x46, frame: { type: 'publish', room: 'chat', data: 'hi 👋', event: 'say', id: 'p1' } },
  { sender: 'client', v2: 0x47, frame: { type: 'presence', room: 'chat', id: 'pr1' } },
  { sender: 'client', v2: 0x48, frame: { type: 'ping' } },
  { sender: 'client', v2: 0x50, frame: { type: 'rpc', id: 'c1', method: 'cart.add', data: { sku: 42 } } },
  { sender: 'client', v2: 0x4c, frame: { type: 'publish', room: 'doc', data_b64: 'AAEC/w==', id: 'p2' } },
  { sender: 'client', v2: 0x4d, frame: { type: 'history', room: 'doc', limit: 10, id: 'h1' } },
  { sender: 'client', v2: 0x4e, frame: { type: 'state', room: 'doc', data: null, id: 's2' } },
];

test('frame types: 22 distinct ids, one per v1 message and direction (message and publish also with bytes), bit 0x40 = client', () => {
  // 15 types of the first protocol, rpc (0x50, issue 16), the room frames of issue 18 and batch (issue 20).
  assert.equal(FRAME_TYPES.length, 22);
  assert.equal(new Set(FRAME_TYPES.map((t) => t.id)).size, 22);
  assert.deepEqual(
    FRAME_TYPES.map((t) => t.id).sort((a, b) => a - b),
    SAMPLES.map((s) => s.v2).sort((a, b) => a - b),
  );
  for (const t of FRAME_TYPES) assert.equal((t.id & 0x40) !== 0, t.sender === 'client', t.name);
});

test('round trip: every v1 frame survives encodeV1 → decodeFrame → toV1, with its own type byte', () => {
  for (const { sender, frame, v2 } of SAMPLES) {
    const bytes = encodeV1(frame, sender);
    assert.equal(bytes[2], v2, frame.type);
    const decoded = decodeFrame(bytes, { sender });
    assert.equal(decoded.type, v2);
    assert.deepEqual(toV1(decoded), frame, `${sender} ${frame.type}`);
  }
});

test('round trip: seq moves to the header for message and ack, nowhere else', () => {
  const msg = encodeV1({ type: 'message', id: 'm', seq: 12, data: null, ts: 1 }, 'server');
  assert.equal(new TextDecoder().decode(msg.subarray(16)), '{"id":"m","data":null,"ts":1}');
  assert.equal(decodeFrame(msg).seq, 12);
  // Unreliable message: no seq on either side.
  const eph = encodeV1({ type: 'message', id: 'm', data: 1, ts: 1 }, 'server');
  assert.equal(decodeFrame(eph).seq, 0);
  assert.equal('seq' in toV1(decodeFrame(eph)), false);
  // ack and ping: header only.
  assert.equal(encodeV1({ type: 'ack', seq: 5 }, 'client').length, 16);
  assert.equal(encodeV1({ type: 'ping' }, 'client').length, 16);
  assert.deepEqual(toV1(decodeFrame(encodeV1({ type: 'ack', seq: 0 }, 'client'))), { type: 'ack', seq: 0 });
});

test('fromV1: join/leave are resolved by sender; unknown v1 types are caller bugs', () => {
  assert.equal(fromV1({ type: 'join', room: 'r' }, 'client').type, BinaryFrameType.JoinRequest);
  assert.equal(fromV1({ type: 'join', room: 'r', user: 'u', device: 'd' }, 'server').type, BinaryFrameType.PresenceJoin);
  assert.throws(() => fromV1({ type: 'ping' }, 'server'), TypeError);
  assert.throws(() => fromV1({ type: 'message', id: 'm', seq: 0, data: 1, ts: 1 }, 'server'), RangeError);
  assert.throws(() => fromV1({ type: 'welcome' } as unknown as ServerFrame, 'client'), TypeError);
  // fromV1 copies: the caller's object is not mutated.
  const m: ServerFrame = { type: 'message', id: 'x', seq: 3, data: 1, ts: 2 };
  fromV1(m, 'server');
  assert.deepEqual(m, { type: 'message', id: 'x', seq: 3, data: 1, ts: 2 });
});

test('decode: sender option rejects frames of the other direction', () => {
  const welcome = encodeV1(SAMPLES[0]!.frame, 'server');
  assert.equal(codeOf(() => decodeFrame(welcome, { sender: 'client' })), 'unknown_type');
  assert.equal(codeOf(() => decodeFrame(welcome, { sender: 'server' })), 'ok');
  assert.equal(codeOf(() => decodeFrame(encodeV1({ type: 'ping' }, 'client'), { sender: 'server' })), 'unknown_type');
});

test('decode: every error code is reachable and typed', () => {
  const good = encodeV1({ type: 'join', room: 'r', id: 'j' }, 'client');
  const patched = (i: number, v: number, from = good): Uint8Array => {
    const c = from.slice();
    c[i] = v;
    return c;
  };
  assert.equal(codeOf(() => decodeFrame(good)), 'ok');
  assert.equal(codeOf(() => decodeFrame(patched(0, 0))), 'bad_magic');
  assert.equal(codeOf(() => decodeFrame(patched(1, 9))), 'bad_version');
  assert.equal(codeOf(() => decodeFrame(patched(2, 0x00))), 'unknown_type');
  assert.equal(codeOf(() => decodeFrame(patched(2, 0x80 | 0x44))), 'unknown_type');
  assert.equal(codeOf(() => decodeFrame(good.subarray(0, good.length - 1))), 'truncated');
  assert.equal(codeOf(() => decodeFrame(good.subarray(0, 10))), 'truncated');
  const longer = new Uint8Array(good.length + 1);
  longer.set(good);
  assert.equal(codeOf(() => decodeFrame(longer)), 'length_mismatch');
  assert.equal(codeOf(() => decodeFrame(good, { maxPayloadBytes: good.length - 17 })), 'too_large');
  assert.equal(codeOf(() => decodeFrame(good, { maxPayloadBytes: good.length - 16 })), 'ok');
  assert.equal(codeOf(() => decodeFrame(patched(20, good[20]! ^ 1))), 'crc_mismatch');
  assert.equal(codeOf(() => decodeFrame(patched(7, good[7]! ^ 0x80))), 'crc_mismatch');
  assert.equal(codeOf(() => decodeFrame(patched(3, 1))), 'bad_compression'); // deflate not negotiated
  assert.equal(codeOf(() => decodeFrame(patched(3, 7))), 'bad_compression');
  assert.equal(codeOf(() => decodeFrame(patched(3, 2), { compressor: throwingCodec('deflate') })), 'bad_compression'); // zstd ≠ negotiated deflate
  assert.equal(codeOf(() => decodeFrame(patched(3, 1), { compressor: throwingCodec('deflate') })), 'decompress_failed');
});

test('decode: payload shape is checked (bad_payload)', () => {
  const raw = (type: number, text: string, seq = 0): Uint8Array => encodeFrame(type as never, new TextEncoder().encode(text), { seq });
  const J = BinaryFrameType.JoinRequest;
  assert.equal(codeOf(() => decodeFrame(raw(J, '{"room":"r"}'))), 'ok');
  assert.equal(codeOf(() => decodeFrame(raw(J, ''))), 'bad_payload');
  assert.equal(codeOf(() => decodeFrame(raw(J, '{"room":'))), 'bad_payload');
  assert.equal(codeOf(() => decodeFrame(raw(J, '[1,2]'))), 'bad_payload');
  assert.equal(codeOf(() => decodeFrame(raw(J, 'null'))), 'bad_payload');
  assert.equal(codeOf(() => decodeFrame(raw(J, '"room"'))), 'bad_payload');
  assert.equal(codeOf(() => decodeFrame(raw(J, '{"type":"leave","room":"r"}'))), 'bad_payload');
  assert.equal(codeOf(() => decodeFrame(raw(BinaryFrameType.Message, '{"id":"m","seq":3,"data":1,"ts":1}', 3))), 'bad_payload');
  assert.equal(codeOf(() => decodeFrame(raw(BinaryFrameType.Reply, '{"id":"m","ok":true,"seq":3}'))), 'ok'); // seq is only reserved where the header carries it
  // Invalid UTF-8 (a lone continuation byte) is rejected, not replaced with U+FFFD.
  const bad = encodeFrame(J, new Uint8Array([0x7b, 0x22, 0x80, 0x22, 0x3a, 0x31, 0x7d]));
  assert.equal(codeOf(() => decodeFrame(bad)), 'bad_payload');
  // Header-only types must be header-only.
  const ping = encodeFrame(BinaryFrameType.Ping, null);
  const pingWithBody = new Uint8Array(17);
  pingWithBody.set(ping);
  pingWithBody[10] = 1; // length 1
  pingWithBody[16] = 0x20;
  const crc = zlibCrc32(new Uint8Array([0x20])); // a valid CRC, so only the shape is wrong
  pingWithBody.set([crc >>> 24, (crc >>> 16) & 0xff, (crc >>> 8) & 0xff, crc & 0xff], 4);
  assert.equal(codeOf(() => decodeFrame(pingWithBody)), 'bad_payload');
});

test('decode: a "__proto__" key stays a plain property', () => {
  const bytes = encodeFrame(BinaryFrameType.Publish, new TextEncoder().encode('{"room":"r","data":1,"__proto__":{"polluted":true}}'));
  const v1 = toV1(decodeFrame(bytes)) as unknown as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(v1), Object.prototype);
  assert.equal(v1['polluted'], undefined);
  assert.ok(Object.hasOwn(v1, '__proto__'));
});

test('decode: accepts an ArrayBuffer (browser binaryType "arraybuffer") and unaligned views', () => {
  const bytes = encodeV1(SAMPLES[1]!.frame, 'server');
  assert.deepEqual(toV1(decodeFrame(bytes.slice().buffer)), SAMPLES[1]!.frame);
  const padded = new Uint8Array(bytes.length + 3);
  padded.set(bytes, 3);
  assert.deepEqual(toV1(decodeFrame(padded.subarray(3))), SAMPLES[1]!.frame);
});

test('decode: a header declaring the largest payload is refused on its 16 bytes, before any allocation or codec call', () => {
  let calls = 0;
  const spy: Compressor = {
    name: 'deflate',
    compress: (u8) => u8,
    decompress: () => {
      calls++;
      return new Uint8Array(0);
    },
  };
  for (const compression of [0, 1]) {
    const header = new Uint8Array([0x48, 0x02, 0x02, compression, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0, 0, 0, 0, 1]);
    assert.equal(codeOf(() => decodeFrame(header, { maxPayloadBytes: 1024, compressor: spy })), 'too_large');
    // With a limit that admits it, the same 16 bytes are merely truncated: the size check came first.
    assert.equal(codeOf(() => decodeFrame(header, { maxPayloadBytes: 2 ** 24, compressor: spy })), 'truncated');
  }
  assert.equal(calls, 0);
  // The default limit is 1 MiB.
  const justOver = new Uint8Array([0x48, 0x02, 0x02, 0, 0, 0, 0, 0, 0x10, 0x00, 0x01, 0, 0, 0, 0, 1]);
  assert.equal(codeOf(() => decodeFrame(justOver)), 'too_large');
});

test('decode: the codec gets exactly maxDecompressedBytes, and an over-producing codec is still stopped', () => {
  let seenMax = -1;
  const liar: Compressor = {
    name: 'deflate',
    compress: () => new Uint8Array([1]),
    decompress: (_u8, max) => {
      seenMax = max;
      return new TextEncoder().encode(`{"room":"${'x'.repeat(max)}"}`);
    },
  };
  const frame = encodeFrame(BinaryFrameType.JoinRequest, { room: 'r'.repeat(50) }, { compressor: liar, threshold: 0 });
  assert.equal(frame[3], 1);
  assert.equal(codeOf(() => decodeFrame(frame, { compressor: liar, maxDecompressedBytes: 100 })), 'too_large');
  assert.equal(seenMax, 100);
});

test('withSeq: re-stamps a copy for another user; payload and CRC untouched', () => {
  const a = encodeV1({ type: 'message', id: 'm', seq: 1, data: { x: 1 }, ts: 1 }, 'server');
  const b = withSeq(a, 2 ** 32 + 1);
  assert.notEqual(a, b);
  assert.equal(decodeFrame(a).seq, 1);
  assert.equal(decodeFrame(b).seq, 2 ** 32 + 1);
  assert.deepEqual(b.subarray(0, 11), a.subarray(0, 11));
  assert.deepEqual(b.subarray(16), a.subarray(16));
  // A Buffer (what ws hands out) is copied too, never re-stamped in place.
  const buf = Buffer.from(a);
  const c = withSeq(buf, 9);
  assert.equal(decodeFrame(buf).seq, 1);
  assert.equal(decodeFrame(c).seq, 9);
  assert.throws(() => withSeq(encodeV1({ type: 'pong' }, 'server'), 1), RangeError);
  assert.throws(() => withSeq(new Uint8Array(16), 1), TypeError);
  assert.throws(() => withSeq(a, 2 ** 40), RangeError);
});

test('encode: caller bugs throw TypeError/RangeError; oversize throws too_large', () => {
  assert.throws(() => encodeFrame(0x99 as never, {}), TypeError);
  assert.throws(() => encodeFrame(BinaryFrameType.Ping, { x: 1 }), TypeError);
  assert.throws(() => encodeFrame(BinaryFrameType.Sync, null), TypeError);
  assert.throws(() => encodeFrame(BinaryFrameType.Sync, [1] as never), TypeError);
  assert.throws(() => encodeFrame(BinaryFrameType.Sync, { type: 'sync', after: 1 }), TypeError);
  assert.throws(() => encodeFrame(BinaryFrameType.Message, { id: 'm', seq: 1, data: 1, ts: 1 }), TypeError);
  assert.throws(() => encodeFrame(BinaryFrameType.Message, { id: 'm' }, { seq: -1 }), RangeError);
  assert.throws(() => encodeFrame(BinaryFrameType.Message, { id: 'm' }, { seq: 1.5 }), RangeError);
  assert.throws(() => encodeFrame(BinaryFrameType.Message, { id: 'm' }, { seq: 2 ** 40 }), RangeError);
  assert.throws(() => encodeFrame(BinaryFrameType.Reply, { id: 'm' }, { seq: 1 }), RangeError);
  assert.equal(codeOf(() => encodeFrame(BinaryFrameType.Publish, { room: 'r', data: 'x'.repeat(2 ** 24) })), 'too_large');
});

test('BinaryProtocolError: close code 1009 for too_large, 4000 otherwise', () => {
  assert.equal(new BinaryProtocolError('too_large', 'x').closeCode, 1009);
  assert.equal(new BinaryProtocolError('crc_mismatch', 'x').closeCode, 4000);
  assert.equal(new BinaryProtocolError('bad_magic', 'x').name, 'BinaryProtocolError');
});

function throwingCodec(name: 'deflate' | 'zstd'): Compressor {
  return {
    name,
    compress: (u8) => u8,
    decompress: () => {
      throw new Error('corrupt stream');
    },
  };
}
