/**
 * Fuzzes the client frame parsers for crashes (issue 13, item 2): whatever a
 * client sends, the v1 text parser and the v2 binary decode + validation
 * answer with a frame or a refusal the gateway knows (ProtocolViolation, and
 * for v2 BinaryProtocolError) — nothing else. A frame they accept must be
 * safe for what the handlers do next: `JSON.stringify` of its `data`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { BinaryFrameType, BinaryProtocolError, encodeFrame, type FrameTypeId } from '@herald/protocol';
import { parseClientFrame, ProtocolViolation, validateClientFrame } from '../../src/protocol/clientFrames.js';
import { V2Codecs } from '../../src/protocol/v2Frames.js';
import { nodeCodecs } from '../../src/protocol/nodeCompressors.js';

const MAX_DEPTH = 32;
const RUNS = { numRuns: 400 };

/** A parser outcome the gateway handles: a checked frame, or a known refusal. */
function assertHandled(run: () => unknown, refusals: readonly (new (...a: never[]) => Error)[]): void {
  let frame: unknown;
  try {
    frame = run();
  } catch (err) {
    assert.ok(
      refusals.some((r) => err instanceof r),
      `unexpected ${err instanceof Error ? err.name + ': ' + err.message : String(err)}`,
    );
    return;
  }
  assert.ok(frame !== null && typeof frame === 'object', 'a frame is an object');
  const f = frame as { type?: unknown; data?: unknown };
  assert.equal(typeof f.type, 'string');
  // What FrameHandler.publish does with it must not throw (a RangeError here was the crash).
  if (f.type === 'publish') JSON.stringify(f.data);
}

/** JSON text nesting `depth` deep with random brackets, possibly unbalanced, inside a frame or not. */
const deepText = fc
  .tuple(fc.integer({ min: 0, max: 6000 }), fc.boolean(), fc.boolean(), fc.constantFrom('[', '{"a":', '[{"b":'))
  .map(([depth, wrap, balanced, open]) => {
    const close = open === '[' ? ']' : open === '{"a":' ? '}' : '}]';
    const body = open.repeat(depth) + '1' + (balanced ? close.repeat(depth) : close.repeat(Math.floor(depth / 2)));
    return wrap ? `{"type":"publish","room":"r","id":"x","data":${body}}` : body;
  });

/** Frame-shaped objects: a known or random type, and random extra fields. */
const frameLike = fc.record(
  {
    type: fc.oneof(fc.constantFrom('ping', 'ack', 'sync', 'join', 'leave', 'publish', 'presence', 'auth'), fc.string()),
    room: fc.oneof(fc.string(), fc.constant('r'), fc.jsonValue()),
    data: fc.jsonValue({ maxDepth: 40 }),
    id: fc.oneof(fc.string(), fc.jsonValue()),
    seq: fc.oneof(fc.integer(), fc.double(), fc.jsonValue()),
    after: fc.oneof(fc.integer(), fc.jsonValue()),
    token: fc.oneof(fc.string(), fc.jsonValue()),
    event: fc.oneof(fc.string(), fc.jsonValue()),
    __proto__: fc.jsonValue(),
  },
  { requiredKeys: [] },
);

test('v1 text: arbitrary strings are a frame or a ProtocolViolation', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (text) => assertHandled(() => parseClientFrame(text, MAX_DEPTH), [ProtocolViolation])),
    RUNS,
  );
});

test('v1 text: arbitrary JSON values and frame-shaped objects', () => {
  fc.assert(
    fc.property(fc.oneof(fc.jsonValue({ maxDepth: 50 }), frameLike), (value) => {
      const text = JSON.stringify(value);
      assertHandled(() => parseClientFrame(text ?? 'null', MAX_DEPTH), [ProtocolViolation]);
    }),
    RUNS,
  );
});

test('v1 text: deep nesting, balanced or not, never escapes as anything but a ProtocolViolation', () => {
  fc.assert(
    fc.property(deepText, (text) => assertHandled(() => parseClientFrame(text, MAX_DEPTH), [ProtocolViolation])),
    { numRuns: 200 },
  );
});

test('v1 text: the depth bound is exact — frame depth maxJsonDepth passes, one more is refused naming data', () => {
  fc.assert(
    fc.property(fc.integer({ min: 2, max: 200 }), (max) => {
      const frame = (dataDepth: number): string => `{"type":"publish","room":"r","data":${'['.repeat(dataDepth)}${']'.repeat(dataDepth)}}`;
      assert.equal(parseClientFrame(frame(max - 1), max).type, 'publish');
      assert.throws(() => parseClientFrame(frame(max), max), (e: unknown) => e instanceof ProtocolViolation && e.code === 'bad_field' && /"data"/.test(e.message) && !e.fatal);
    }),
    { numRuns: 50 },
  );
});

test('decoded objects (the v2 path): validateClientFrame bounds depth the same way', () => {
  fc.assert(
    fc.property(fc.oneof(fc.jsonValue({ maxDepth: 50 }), frameLike), (value) => assertHandled(() => validateClientFrame(value, MAX_DEPTH), [ProtocolViolation])),
    RUNS,
  );
});

const codecs = new V2Codecs({ codecs: ['deflate', 'zstd'], threshold: 0, maxPayloadBytes: 64 * 1024, maxDecompressedBytes: 64 * 1024 });
const none = codecs.negotiate(undefined);
const deflate = codecs.negotiate('deflate');
const sessions = [none, deflate];
const v2 = (bytes: Uint8Array, s = none): unknown => validateClientFrame(codecs.decode(bytes, s), MAX_DEPTH);
const V2_REFUSALS = [BinaryProtocolError, ProtocolViolation] as const;

test('v2 binary: arbitrary bytes are a frame, a BinaryProtocolError or a ProtocolViolation', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.constantFrom(...sessions), (bytes, s) => assertHandled(() => v2(bytes, s), V2_REFUSALS)),
    RUNS,
  );
});

const CLIENT_TYPES: FrameTypeId[] = [
  BinaryFrameType.Auth,
  BinaryFrameType.Sync,
  BinaryFrameType.JoinRequest,
  BinaryFrameType.LeaveRequest,
  BinaryFrameType.Publish,
  BinaryFrameType.PresenceRequest,
];

test('v2 binary: well-formed headers around fuzzed payloads (random JSON, deep nesting), plain and deflated', () => {
  const payload = fc.oneof(
    frameLike.map((o) => JSON.stringify(o)),
    fc.jsonValue({ maxDepth: 50 }).map((v) => JSON.stringify(v) ?? 'null'),
    deepText,
    // v2 payloads carry no `type` (the header does): the deep frames without it.
    deepText.map((t) => t.replace('"type":"publish",', '')),
    fc.string({ unit: 'binary', maxLength: 200 }),
  );
  fc.assert(
    fc.property(fc.constantFrom(...CLIENT_TYPES), payload, fc.boolean(), (type, text, compress) => {
      const s = compress && codecs.supported.includes('deflate') ? deflate : none;
      const bytes = encodeFrame(type, Buffer.from(text, 'utf8'), { compressor: s.compressor, threshold: 0 });
      assertHandled(() => v2(bytes, s), V2_REFUSALS);
    }),
    { numRuns: 300 },
  );
});

test('v2 binary: a Publish nesting 5,000 deep is a recoverable bad_field naming data', () => {
  const bytes = encodeFrame(BinaryFrameType.Publish, Buffer.from(`{"room":"r","data":${'['.repeat(5000)}${']'.repeat(5000)}}`));
  assert.throws(() => v2(bytes), (e: unknown) => e instanceof ProtocolViolation && e.code === 'bad_field' && /"data"/.test(e.message) && !e.fatal);
  assert.ok(nodeCodecs().includes('deflate'));
});
