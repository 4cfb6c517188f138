import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseClientFrame, plainAckSeq, plainAckSeqOf, ProtocolViolation, validateClientFrame } from '../../src/protocol/clientFrames.js';

test('parses every client frame type', () => {
  assert.deepEqual(parseClientFrame('{"type":"ping"}'), { type: 'ping' });
  assert.deepEqual(parseClientFrame('{"type":"ack","seq":3}'), { type: 'ack', seq: 3 });
  assert.deepEqual(parseClientFrame('{"type":"sync","after":0,"id":"a"}'), { type: 'sync', after: 0, id: 'a' });
  assert.deepEqual(parseClientFrame('{"type":"join","room":"ops:1"}'), { type: 'join', room: 'ops:1' });
  assert.deepEqual(parseClientFrame('{"type":"leave","room":"r","id":"x"}'), { type: 'leave', room: 'r', id: 'x' });
  assert.deepEqual(parseClientFrame('{"type":"presence","room":"r"}'), { type: 'presence', room: 'r' });
  assert.deepEqual(parseClientFrame('{"type":"publish","room":"r","data":null,"event":"e"}'), { type: 'publish', room: 'r', data: null, event: 'e' });
  assert.deepEqual(parseClientFrame('{"type":"auth","token":"t"}'), { type: 'auth', token: 't' });
});

function violation(text: string): ProtocolViolation {
  try {
    parseClientFrame(text);
  } catch (err) {
    assert.ok(err instanceof ProtocolViolation);
    return err;
  }
  assert.fail(`no violation for ${text}`);
}

test('not JSON or not an object is fatal', () => {
  assert.equal(violation('nope').fatal, true);
  assert.equal(violation('"str"').fatal, true);
  assert.equal(violation('null').fatal, true);
  assert.equal(violation('[]').fatal, true);
});

test('bad fields are recoverable and name the field; ids are echoed', () => {
  const v = violation('{"type":"ack","seq":-1}');
  assert.equal(v.fatal, false);
  assert.equal(v.code, 'bad_ack');
  assert.equal(violation('{"type":"sync","after":"1","id":"q"}').id, 'q');
  assert.equal(violation('{"type":"sync","after":1e300}').code, 'bad_sync');
  assert.match(violation('{"type":"join","room":"a b"}').message, /room/);
  assert.match(violation('{"type":"publish","room":"a"}').message, /data/);
  assert.match(violation('{"type":"publish","room":"a","data":1,"event":7}').message, /event/);
  assert.equal(violation('{"type":"warp"}').code, 'unknown_type');
  assert.equal(violation('{"id":"x"}').code, 'unknown_type');
  assert.match(violation('{"type":"ping","id":42}').message, /id/);
});

test('an ack written as the SDK writes it: the gateway shortcut gives the seq the general path reads', () => {
  // The general path: what parseClientFrame returned for every text before the ack shortcut.
  const outcome = (read: () => unknown): unknown => {
    try {
      return read();
    } catch (err) {
      if (err instanceof SyntaxError) return { code: 'bad_frame', fatal: true, message: 'frame is not valid JSON' }; // JSON.parse's refusal, as parseClientFrame reports it
      assert.ok(err instanceof ProtocolViolation);
      return { code: err.code, fatal: err.fatal, message: err.message };
    }
  };
  const general = (text: string): unknown => outcome(() => validateClientFrame(JSON.parse(text)));
  const got = (text: string): unknown => outcome(() => parseClientFrame(text));
  const texts = [
    ...[0, 1, 9, 10, 123, 99_999, 2 ** 31, 123_456_789_012_345, Number.MAX_SAFE_INTEGER, 2 ** 53 + 2].map((seq) => JSON.stringify({ type: 'ack', seq })),
    '{"type":"ack","seq":}', '{"type":"ack","seq":01}', '{"type":"ack","seq":00}', '{"type":"ack","seq":-1}', '{"type":"ack","seq":1.5}',
    '{"type":"ack","seq":1e3}', '{"type":"ack","seq":"1"}', '{"type":"ack","seq":1 }', '{"type":"ack","seq":1}}', '{"type":"ack","seq":1]',
    '{"type":"ack","seq":1234567890123456}', '{"type":"ack","seq":12345678901234567}', '{"type":"ack","seq":1,"id":"x"}', '{"seq":1,"type":"ack"}',
  ];
  for (const text of texts) assert.deepEqual(got(text), general(text), text);
  const fast = parseClientFrame('{"type":"ack","seq":42}');
  assert.deepEqual(Object.keys(fast), ['type', 'seq']);
  // The gateway's shortcut (no frame object): a seq only where the general path reads an ack of
  // that seq from the same text; -1 sends the text down the general path. Every SDK ack of up
  // to 15 digits takes the shortcut.
  for (const text of [...texts, '{"type":"ping"}', 'ping', '', '{}']) {
    const seq = plainAckSeq(text);
    if (seq >= 0) assert.deepEqual({ type: 'ack', seq }, general(text), text);
  }
  for (const seq of [0, 1, 9, 10, 123, 99_999, 2 ** 31, 123_456_789_012_345]) assert.equal(plainAckSeq(JSON.stringify({ type: 'ack', seq })), seq);
  assert.equal(plainAckSeq('{"type":"ack","seq":42}'), 42);
  assert.equal(plainAckSeq('{"type":"ack","seq":1 }'), -1);
  assert.equal(plainAckSeq('{"seq":1,"type":"ack"}'), -1);
});

test('the ack shortcut on bytes reads exactly what it reads on the decoded text', () => {
  const sdk = (seq: number): string => JSON.stringify({ type: 'ack', seq });
  const texts = [
    ...[0, 1, 9, 10, 123, 99_999, 2 ** 31, 123_456_789_012_345, 999_999_999_999_999, 1_000_000_000_000_000, Number.MAX_SAFE_INTEGER].map(sdk),
    '{"type":"ack","seq":}', '{"type":"ack","seq":01}', '{"type":"ack","seq":-1}', '{"type":"ack","seq":1.5}', '{"type":"ack","seq":1e3}',
    '{"type":"ack","seq":1 }', ' {"type":"ack","seq":1}', '{"type":"ack","seq":1}\n', '{"seq":1,"type":"ack"}', '{"type":"ack","seq":1,"id":"x"}',
    // Non-ASCII where the digits or the prefix are: multi-byte UTF-8 never matches an ASCII byte.
    '{"type":"ack","seq":１}', '{"type":"ack","seq":٣}', '{"type":"ack","seq":1\u00e9}', '{"type":"\u00e4ck","seq":1}', '\uFEFF{"type":"ack","seq":1}', '{"type":"ack","seq":1\u{1F600}}',
    'ping', '', '{}', '{"type":"ping"}',
  ];
  for (const text of texts) assert.equal(plainAckSeqOf(Buffer.from(text)), plainAckSeq(text), text);
  for (const seq of [0, 7, 42, 123_456_789_012_345]) assert.equal(plainAckSeqOf(Buffer.from(sdk(seq))), seq);
  // Invalid UTF-8 (ws refuses it before the gateway; still never an ack): a lone continuation byte, a truncated sequence.
  for (const bytes of [[0x80], [0xc3], [0xff]]) {
    const b = Buffer.concat([Buffer.from('{"type":"ack","seq":1'), Buffer.from(bytes), Buffer.from('}')]);
    assert.equal(plainAckSeqOf(b), -1);
  }
  // Every single-byte change of an SDK ack (each position, each byte value): the bytes agree with the text.
  const base = Buffer.from(sdk(4_321));
  for (let i = 0; i < base.length; i++) {
    for (let v = 0; v < 256; v++) {
      const b = Buffer.from(base);
      b[i] = v;
      const seq = plainAckSeqOf(b);
      if (v < 0x80) assert.equal(seq, plainAckSeq(b.toString('latin1')), `${i}:${v}`);
      else assert.equal(seq, -1, `${i}:${v}`);
    }
  }
  // A view into a larger buffer (ws hands out subarrays of the socket's read): only the view is read.
  const big = Buffer.from('xx{"type":"ack","seq":77}yy');
  assert.equal(plainAckSeqOf(big.subarray(2, big.length - 2)), 77);
});
