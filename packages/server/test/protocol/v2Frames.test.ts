/**
 * The server's v2 building blocks without a socket: the node:zlib codecs file
 * is the documented block, the text → v2 fast path says exactly what the
 * generic path says, per-codec frame caching, negotiation and subprotocol
 * selection.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as zlibCrc from 'node:zlib';
import fc from 'fast-check';
import { BinaryFrameType, BinaryProtocolError, crc32, decodeFrame, encodeV1, toV1, type ServerFrame } from '@herald/protocol';
import { nodeCodecs, nodeCompressor } from '../../src/protocol/nodeCompressors.js';
import { nativeCrc32, reliablePayload, selectSubprotocol, v2FromText, v2PartsOfText, V2Codecs, V2Frames, type V2Session } from '../../src/protocol/v2Frames.js';
import { errorFrame, messageFrame, PONG_FRAME, presenceEventFrame, reliableFrame, replyFrame, welcomeFrame } from '../../src/protocol/serverFrames.js';
import type { InboxMessage } from '../../src/engine/types.js';

const deflate = nodeCompressor('deflate');
const none: V2Session = { compression: 'none', compressor: null, threshold: 1024 };
const def: V2Session = { compression: 'deflate', compressor: deflate, threshold: 1024 };

/** The WebSocket frame's payload (server frames are unmasked; 2-, 4- or 10-byte header). */
function wsPayload(frame: Buffer): Buffer {
  const len = frame[1]! & 0x7f;
  return frame.subarray(len === 126 ? 4 : len === 127 ? 10 : 2);
}

test('nodeCompressors.ts is the "Node compressors" block of docs/protocol-v2.md', () => {
  const md = readFileSync(new URL('../../../../docs/protocol-v2.md', import.meta.url), 'utf8');
  const block = /<!-- node-compressors:begin -->\n```ts\n([\s\S]*?)```\n<!-- node-compressors:end -->/.exec(md)![1]!;
  const file = readFileSync(new URL('../../src/protocol/nodeCompressors.ts', import.meta.url), 'utf8');
  assert.ok(file.endsWith(block), 'the file must end with the documented block, verbatim');
});

test('server text frames: the fast path and the generic path decode to the same v1 object', () => {
  const texts = [
    messageFrame({ id: 'm1', ts: 1, data: '{"a":1}' }),
    messageFrame({ id: 'm"2', ts: 2, room: 'r', from: 'u', event: 'e', data: '[1,"x",{"type":"nested"}]' }),
    messageFrame({ id: 'm3', ts: 3, data: '{"seq":5}' }), // "seq": inside data: generic path, still right
    presenceEventFrame({ type: 'join', room: 'r', user: 'u', device: 'd' }),
    presenceEventFrame({ type: 'leave', room: 'r', user: 'u', device: 'd' }),
    replyFrame('q1', { room: 'r', members: [{ user: 'u', device: 'd' }] }),
    errorFrame('bad_field', 'field "room" is bad', 'q2'),
    errorFrame('internal', 'no id'),
    welcomeFrame({ conn: 'c', node: 'n', user: 'u', tenant: 't', device: 'd', heartbeat_ms: 1, last_seq: 0, recovered: true, compression: 'deflate', compression_threshold: 1024 }),
    PONG_FRAME,
    reliableFrame({ seq: 42, id: 'r1', ts: 9, event: 'order', data: '{"x":"y"}' }),
  ];
  for (const text of texts) {
    const v1 = JSON.parse(text) as ServerFrame;
    const decoded = toV1(decodeFrame(v2FromText(text, none), { sender: 'server' }));
    assert.deepEqual(decoded, v1, text);
    assert.deepEqual(toV1(decodeFrame(encodeV1(v1, 'server'), { sender: 'server' })), v1);
  }
  assert.equal(v2PartsOfText(texts[0]!).type, BinaryFrameType.Message);
  assert.equal(v2PartsOfText(texts[10]!).seq, 42);
  assert.equal(v2PartsOfText(PONG_FRAME).payload, null);
});

test('fuzz: any message text the server can build round-trips through the fast path', () => {
  fc.assert(
    fc.property(fc.string(), fc.jsonValue(), fc.option(fc.string()), fc.option(fc.string()), (id, data, room, event) => {
      const text = messageFrame({ id, ts: 1, data: JSON.stringify(data), ...(room !== null ? { room } : {}), ...(event !== null ? { event } : {}) });
      const got = toV1(decodeFrame(v2FromText(text, def), { sender: 'server', compressor: deflate }));
      assert.deepEqual(got, JSON.parse(text));
    }),
    { numRuns: 300, seed: 0x48_32 },
  );
});

test('reliable payload: reliableFrame without type and seq; seq in the header', () => {
  const m: InboxMessage = { seq: 7, id: 'id-7', ts: 5, event: 'ev', data: '{"k":[1,2]}', device: 'pos' };
  assert.deepEqual(JSON.parse(Buffer.from(reliablePayload(m)).toString()), { id: 'id-7', event: 'ev', data: { k: [1, 2] }, ts: 5 });
  const f = V2Frames.ofReliable(m);
  const d = decodeFrame(wsPayload(f.get(none)), { sender: 'server' });
  assert.equal(d.seq, 7);
  assert.deepEqual(toV1(d), JSON.parse(reliableFrame(m)));
});

test('V2Frames: built lazily, once per codec; under the threshold every codec shares the uncompressed frame', () => {
  const small = messageFrame({ id: 's', ts: 1, data: '"tiny"' });
  const big = messageFrame({ id: 'b', ts: 1, data: JSON.stringify({ rows: Array.from({ length: 200 }, (_, i) => ({ i, name: 'row' })) }) });
  const s = V2Frames.ofText(small);
  assert.equal(s.get(none), s.get(none));
  assert.equal(s.get(def), s.get(none), 'small: deflate connections get the uncompressed frame');
  assert.equal(wsPayload(s.get(def))[3], 0);
  const b = V2Frames.ofText(big);
  const plain = b.get(none);
  const packed = b.get(def);
  assert.notEqual(plain, packed);
  assert.equal(b.get(def), packed);
  assert.equal(wsPayload(packed)[3], 1);
  assert.ok(packed.length < plain.length);
  assert.deepEqual(toV1(decodeFrame(wsPayload(packed), { compressor: deflate })), JSON.parse(big));
});

test('V2Codecs: negotiation against the configured codecs this runtime has; decoding within limits', () => {
  const codecs = new V2Codecs({ codecs: ['zstd', 'deflate'], threshold: 512, maxPayloadBytes: 100, maxDecompressedBytes: 200 });
  assert.deepEqual(codecs.supported, nodeCodecs());
  assert.equal(codecs.negotiate('deflate').compression, 'deflate');
  assert.equal(codecs.negotiate('deflate').threshold, 512);
  assert.equal(codecs.negotiate('deflate'), codecs.negotiate('gzip,deflate'), 'one shared session per codec');
  assert.equal(codecs.negotiate(undefined).compression, 'none');
  assert.equal(codecs.negotiate('none,deflate').compression, 'none');
  for (const codecs of [[], ['none']] as const) {
    const off = new V2Codecs({ codecs, threshold: 512, maxPayloadBytes: 100, maxDecompressedBytes: 200 });
    assert.deepEqual(off.supported, []);
    assert.equal(off.negotiate('deflate').compression, 'none');
  }

  const s = codecs.negotiate('deflate');
  const ok = encodeV1({ type: 'join', room: 'r', id: 'x' }, 'client');
  assert.deepEqual(codecs.decode(ok, s), { type: 'join', room: 'r', id: 'x' });
  const tooBig = encodeV1({ type: 'publish', room: 'r', data: 'x'.repeat(150) }, 'client');
  assert.throws(() => codecs.decode(tooBig, s), (e: unknown) => e instanceof BinaryProtocolError && e.code === 'too_large' && e.closeCode === 1009);
  const bomb = encodeV1({ type: 'publish', room: 'r', data: 'x'.repeat(1000) }, 'client', { compressor: deflate, threshold: 0 });
  assert.ok(bomb.length - 16 <= 100);
  assert.throws(() => codecs.decode(bomb, s), (e: unknown) => e instanceof BinaryProtocolError && e.code === 'too_large');
});

test('subprotocol selection: herald.v2.bin when offered, else what ws picks by default', () => {
  assert.equal(selectSubprotocol(new Set(['herald.v2.bin'])), 'herald.v2.bin');
  assert.equal(selectSubprotocol(new Set(['a', 'herald.v2.bin'])), 'herald.v2.bin');
  assert.equal(selectSubprotocol(new Set(['a', 'b'])), 'a');
  assert.equal(selectSubprotocol(new Set()), false);
});

test('native CRC32, where node:zlib has it, agrees with the package\'s', () => {
  if (!nativeCrc32) return assert.equal(typeof (zlibCrc as { crc32?: unknown }).crc32, 'undefined');
  for (const n of [0, 1, 7, 8, 9, 1000, 4099]) {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = (i * 131 + n) & 0xff;
    assert.equal(nativeCrc32(b), crc32(b), `${n} bytes`);
  }
});

test('docs/protocol-v2.md: the server configuration table names real keys with their real defaults', async () => {
  const { CONFIG_KEYS } = await import('../../src/config/schema.js');
  const { configDefaults } = await import('../../src/config/load.js');
  const md = readFileSync(new URL('../../../../docs/protocol-v2.md', import.meta.url), 'utf8');
  const section = md.slice(md.indexOf('### Configuration'), md.indexOf('### Sending'));
  const rows = [...section.matchAll(/^\| `(\w+)`(?: \(existing\))? \| ([^|]+) \|/gm)].map((m) => [m[1]!, m[2]!.trim()] as const);
  assert.ok(rows.length >= 4);
  const defaults = configDefaults();
  for (const [key, shown] of rows) {
    assert.ok(key in CONFIG_KEYS, `${key} is a config key`);
    const d = defaults[key];
    if (d === undefined) assert.match(shown, /^unset/, key);
    else assert.equal(shown, '`' + (Array.isArray(d) ? d.join(',') : String(d)) + '`', key);
  }
});
