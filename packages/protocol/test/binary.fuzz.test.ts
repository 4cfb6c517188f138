/**
 * Property-based fuzzing of the v2 decoder. The invariants:
 * 1. whatever the input, decodeFrame returns or throws a BinaryProtocolError — nothing else;
 * 2. any change to the payload or CRC bytes of a valid frame is caught (CRC32
 *    detects every burst error up to 32 bits, so one changed byte never slips through);
 * 3. size limits are enforced on the declared length, whatever the actual bytes.
 * Seeds are fixed (override with FC_SEED); fast-check prints seed and path on failure.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { BinaryProtocolError, FRAME_TYPES, type DecodeOptions, type DecodedFrame, type PayloadKind, decodeFrame, encodeFrame, toV1 } from '../src/binary/index.js';

const SEED = Number(process.env['FC_SEED'] ?? 0x48_32_f2);
const RUNS = 2000;

/** Decodes, failing the property on any throw that is not a BinaryProtocolError. */
function tryDecode(bytes: Uint8Array, options?: DecodeOptions): DecodedFrame | BinaryProtocolError {
  try {
    return decodeFrame(bytes, options);
  } catch (err) {
    if (err instanceof BinaryProtocolError) return err;
    throw new Error(`decoder threw a non-BinaryProtocolError: ${String(err)}`, { cause: err });
  }
}

const jsonValue = fc.jsonValue({ maxDepth: 3 });
function withoutData(fields: Record<string, unknown>): Record<string, unknown> {
  const { data: _d, data_b64: _b, ...rest } = fields;
  return rest;
}
function payloadFor(kind: PayloadKind, fields: Record<string, unknown>): object | null {
  if (kind === 'empty') return null;
  if (kind === 'bytes') return { ...withoutData(fields), data_b64: 'AAEC/w==' };
  // A batch of two messages built from the same fields: one JSON, one bytes.
  if (kind === 'frames') return { messages: [{ ...fields, type: 'message' }, { ...withoutData(fields), type: 'message', data_b64: 'AAEC/w==' }] };
  return fields;
}
/** Any valid frame: a random type with a payload fit for it. */
const validFrame = fc
  .record({
    t: fc.constantFrom(...FRAME_TYPES),
    fields: fc.dictionary(fc.string({ maxLength: 8 }).filter((k) => k !== 'type' && k !== 'seq' && k !== '__proto__'), jsonValue, { maxKeys: 5 }),
    seq: fc.maxSafeNat().map((n) => n % 2 ** 40),
  })
  .map(({ t, fields, seq }) => ({
    info: t,
    // `bytes` frames: the JSON part must not carry the data; the data travels as data_b64 in the v1 shape.
    bytes: encodeFrame(t.id, payloadFor(t.payload, fields), { seq: t.headerSeq ? seq : 0 }),
  }));

test('fuzz: random bytes never throw anything but BinaryProtocolError', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      tryDecode(bytes);
    }),
    { numRuns: RUNS, seed: SEED },
  );
});

test('fuzz: random bytes behind a valid signature reach the deeper checks, still typed', () => {
  const codes = new Set<string>();
  fc.assert(
    fc.property(fc.constantFrom(...FRAME_TYPES.map((t) => t.id), 0, 0x40, 0xff), fc.nat(3), fc.uint8Array({ minLength: 12, maxLength: 80 }), (type, comp, rest) => {
      const bytes = new Uint8Array(4 + rest.length);
      bytes.set([0x48, 0x02, type, comp]);
      bytes.set(rest, 4);
      // Keep the declared length near the real one so truncated/length_mismatch/crc paths all occur.
      const len = Math.max(0, bytes.length - 16 + ((rest[0]! % 3) - 1));
      bytes.set([len >>> 16, (len >>> 8) & 0xff, len & 0xff], 8);
      const r = tryDecode(bytes);
      codes.add(r instanceof BinaryProtocolError ? r.code : 'ok');
    }),
    { numRuns: RUNS, seed: SEED },
  );
  for (const c of ['unknown_type', 'truncated', 'length_mismatch', 'crc_mismatch', 'bad_compression']) assert.ok(codes.has(c), `never saw ${c}: ${[...codes].join(',')}`);
});

test('fuzz: valid frames round-trip', () => {
  fc.assert(
    fc.property(validFrame, ({ info, bytes }) => {
      const d = decodeFrame(bytes, { sender: info.sender });
      assert.equal(d.type, info.id);
      assert.equal(toV1(d).type, info.v1);
    }),
    { numRuns: RUNS, seed: SEED },
  );
});

test('fuzz: one mutated byte — typed error always; in the CRC or payload, always detected', () => {
  fc.assert(
    fc.property(validFrame, fc.nat(), fc.integer({ min: 1, max: 255 }), ({ bytes }, at, xor) => {
      const i = at % bytes.length;
      const m = bytes.slice();
      m[i] = m[i]! ^ xor;
      const r = tryDecode(m);
      const expected: Record<number, string> = { 0: 'bad_magic', 1: 'bad_version' };
      if (i in expected) assert.ok(r instanceof BinaryProtocolError && r.code === expected[i], `byte ${i}`);
      if (i >= 4 && i < 8) assert.ok(r instanceof BinaryProtocolError && r.code === 'crc_mismatch', `crc byte ${i}: ${String(r)}`);
      if (i >= 16) assert.ok(r instanceof BinaryProtocolError && r.code === 'crc_mismatch', `payload byte ${i}: ${String(r)}`);
      if (i >= 8 && i < 11) assert.ok(r instanceof BinaryProtocolError, `length byte ${i} must not decode`);
    }),
    { numRuns: RUNS, seed: SEED },
  );
});

test('fuzz: one flipped bit anywhere outside the seq field is detected', () => {
  fc.assert(
    fc.property(validFrame, fc.nat(), fc.nat(7), ({ bytes, info }, at, bit) => {
      const i = at % bytes.length;
      const m = bytes.slice();
      m[i] = m[i]! ^ (1 << bit);
      const r = tryDecode(m);
      if (i >= 11 && i < 16) {
        // The seq is outside the CRC by design (withSeq); only message/ack read it.
        if (!(r instanceof BinaryProtocolError)) assert.equal(r.seq !== decodeFrame(bytes).seq, info.headerSeq);
        return;
      }
      if (i === 2 && !(r instanceof BinaryProtocolError)) {
        // A type bit flip can land on another valid type; then it must decode as that type.
        assert.notEqual(r.type, info.id);
        return;
      }
      assert.ok(r instanceof BinaryProtocolError, `bit ${bit} of byte ${i} went unnoticed`);
    }),
    { numRuns: RUNS, seed: SEED },
  );
});

test('fuzz: truncated frames are typed errors, and never decode', () => {
  fc.assert(
    fc.property(validFrame, fc.nat(), ({ bytes }, cut) => {
      const short = bytes.subarray(0, cut % bytes.length);
      const r = tryDecode(short);
      assert.ok(r instanceof BinaryProtocolError);
      assert.equal(r.code, 'truncated');
    }),
    { numRuns: RUNS, seed: SEED },
  );
});

test('fuzz: declared lengths over maxPayloadBytes are too_large whatever follows', () => {
  fc.assert(
    fc.property(validFrame, fc.integer({ min: 0, max: 4096 }), fc.integer({ min: 1, max: 2 ** 24 - 1 }), fc.nat(64), ({ bytes }, limit, declared, extra) => {
      fc.pre(declared > limit);
      const m = new Uint8Array(Math.min(bytes.length, 16 + extra));
      m.set(bytes.subarray(0, m.length));
      m.set([declared >>> 16, (declared >>> 8) & 0xff, declared & 0xff], 8);
      const r = tryDecode(m, { maxPayloadBytes: limit });
      assert.ok(r instanceof BinaryProtocolError);
      assert.equal(r.code, 'too_large');
    }),
    { numRuns: RUNS, seed: SEED },
  );
});
