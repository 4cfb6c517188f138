/**
 * Compression: the node:zlib compressors documented in docs/protocol-v2.md
 * (loaded from the document itself, so the documented code is the tested
 * code), the browser CompressionStream codec, thresholds, negotiation and
 * decompression-bomb limits.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as zlib from 'node:zlib';
import fc from 'fast-check';
import {
  BinaryFrameType,
  BinaryProtocolError,
  type CodecName,
  type Compressor,
  type DecodedFrame,
  chooseCompression,
  crc32,
  createOrderedDecoder,
  decodeFrame,
  decodeFrameAsync,
  encodeFrame,
  encodeFrameAsync,
  encodeV1,
  formatCompressionOffer,
  isWebDeflateAvailable,
  parseCompressionOffer,
  toV1,
  webDeflateCompressor,
  writeHeader,
} from '../src/binary/index.js';

const SEED = Number(process.env['FC_SEED'] ?? 0x48_32_de);

interface NodeCompressorsModule {
  nodeCodecs(): CodecName[];
  nodeCompressor(name: CodecName, options?: { level?: number }): Compressor;
}

/** Extracts the "Node compressors" block of docs/protocol-v2.md and imports it. */
async function loadDocumentedCompressors(): Promise<NodeCompressorsModule> {
  const md = readFileSync(new URL('../../../docs/protocol-v2.md', import.meta.url), 'utf8');
  const m = /<!-- node-compressors:begin -->\n```ts\n([\s\S]*?)```\n<!-- node-compressors:end -->/.exec(md);
  assert.ok(m, 'docs/protocol-v2.md lost its node-compressors block');
  const src = m[1]!.replace("from '@herald/protocol'", `from '${new URL('../src/index.ts', import.meta.url).href}'`);
  assert.notEqual(src, m[1], 'the block must import from @herald/protocol');
  const dir = mkdtempSync(join(tmpdir(), 'herald-v2-'));
  try {
    // .mts: outside any package.json a .ts file would load as CommonJS and get its own copy of the package.
    const file = join(dir, 'nodeCompressors.mts');
    writeFileSync(file, src);
    return (await import(pathToFileURL(file).href)) as NodeCompressorsModule;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const docs = await loadDocumentedCompressors();
const deflate = docs.nodeCompressor('deflate');
const web = webDeflateCompressor();
const hasZstd = typeof (zlib as unknown as { zstdCompressSync?: unknown }).zstdCompressSync === 'function';

/** A frame built by hand, for bodies no honest encoder would produce. */
function rawFrame(type: number, compressionId: 0 | 1 | 2, body: Uint8Array, seq = 0): Uint8Array {
  const out = new Uint8Array(16 + body.length);
  writeHeader(out, type, (['none', 'deflate', 'zstd'] as const)[compressionId], crc32(body), body.length, seq);
  out.set(body, 16);
  return out;
}

function codeOf(r: DecodedFrame | unknown): string {
  return r instanceof BinaryProtocolError ? r.code : 'ok';
}
function syncCode(fn: () => unknown): string {
  try {
    fn();
    return 'ok';
  } catch (err) {
    if (err instanceof BinaryProtocolError) return err.code;
    throw err;
  }
}
async function asyncCode(fn: () => Promise<unknown>): Promise<string> {
  try {
    await fn();
    return 'ok';
  } catch (err) {
    if (err instanceof BinaryProtocolError) return err.code;
    throw err;
  }
}

const bigMessage = {
  type: 'message' as const,
  id: 'm-big',
  seq: 77,
  event: 'order.created',
  data: { lines: Array.from({ length: 60 }, (_, i) => ({ sku: `SKU-${i % 7}`, qty: i % 3, note: 'no onions' })) },
  ts: 1_763_700_000_000,
};

test('documented node compressors: load, list codecs, and raise the package error type', () => {
  assert.deepEqual(docs.nodeCodecs(), hasZstd ? ['zstd', 'deflate'] : ['deflate']);
  assert.equal(deflate.name, 'deflate');
  // Same class identity as the package: the block's errors are recognisable.
  assert.equal(syncCode(() => deflate.decompress(new Uint8Array([0xff, 0xff, 0xff]), 100)), 'decompress_failed');
});

test('compression: above the threshold deflate is used and round-trips; below it, none', () => {
  const big = encodeV1(bigMessage, 'server', { compressor: deflate });
  const plain = encodeV1(bigMessage, 'server');
  assert.equal(big[3], 1);
  assert.ok(big.length < plain.length / 3, `${big.length} vs ${plain.length}`);
  const d = decodeFrame(big, { compressor: deflate });
  assert.equal(d.compression, 'deflate');
  assert.deepEqual(toV1(d), bigMessage);

  const small = { type: 'message' as const, id: 's', data: 'x'.repeat(900), ts: 1 };
  assert.equal(encodeV1(small, 'server', { compressor: deflate })[3], 0);
  assert.equal(encodeV1(small, 'server', { compressor: deflate, threshold: 500 })[3], 1);
  // The threshold is inclusive and measured on the uncompressed JSON payload.
  const payload = { room: 'r', data: 'y'.repeat(1024 - '{"room":"r","data":""}'.length) };
  assert.equal(JSON.stringify(payload).length, 1024);
  assert.equal(encodeFrame(BinaryFrameType.Publish, payload, { compressor: deflate })[3], 1);
  assert.equal(encodeFrame(BinaryFrameType.Publish, payload, { compressor: deflate, threshold: 1025 })[3], 0);
});

test('compression: a payload the codec cannot shrink is sent uncompressed even above the threshold', () => {
  const noise = 'q'.repeat(3000);
  let calls = 0;
  const expanding: Compressor = {
    name: 'deflate',
    compress: (u8) => {
      calls++;
      return new Uint8Array(u8.length + 1);
    },
    decompress: () => new Uint8Array(0),
  };
  const g = encodeFrame(BinaryFrameType.Publish, { room: 'r', data: noise }, { compressor: expanding });
  assert.equal(calls, 1);
  assert.equal(g[3], 0);
  assert.deepEqual(toV1(decodeFrame(g)), { type: 'publish', room: 'r', data: noise });
});

test('compression: a look-alike BinaryProtocolError from another copy of the package keeps its too_large verdict', () => {
  class BinaryProtocolError extends Error {
    override name = 'BinaryProtocolError';
    code = 'too_large';
  }
  const foreign: Compressor = {
    name: 'deflate',
    compress: (u8) => u8,
    decompress: () => {
      throw new BinaryProtocolError('over the limit');
    },
  };
  const f = rawFrame(BinaryFrameType.Publish, 1, new Uint8Array([1, 2, 3]));
  assert.equal(syncCode(() => decodeFrame(f, { compressor: foreign })), 'too_large');
  const broken: Compressor = { ...foreign, decompress: () => { throw new TypeError('boom'); } };
  assert.equal(syncCode(() => decodeFrame(f, { compressor: broken })), 'decompress_failed');
});

test('compression: header-only frames are never compressed, and compressed ones are rejected', () => {
  assert.equal(encodeFrame(BinaryFrameType.Ack, null, { seq: 9, compressor: deflate, threshold: 0 })[3], 0);
  const compressedAck = rawFrame(BinaryFrameType.Ack, 1, new Uint8Array([3, 0]), 9);
  assert.equal(syncCode(() => decodeFrame(compressedAck, { compressor: deflate })), 'bad_payload');
});

test('compression: a frame whose codec was not negotiated is bad_compression', () => {
  const big = encodeV1(bigMessage, 'server', { compressor: deflate });
  assert.equal(syncCode(() => decodeFrame(big)), 'bad_compression');
  const zstdNamed: Compressor = { ...deflate, name: 'zstd' };
  assert.equal(syncCode(() => decodeFrame(big, { compressor: zstdNamed })), 'bad_compression');
});

test('decompression bomb: cut at maxDecompressedBytes (node:zlib)', () => {
  const bomb = zlib.deflateRawSync(Buffer.alloc(16 * 1024 * 1024), { level: 9 });
  assert.ok(bomb.length < 32 * 1024, `bomb is ${bomb.length} bytes`);
  const frame = rawFrame(BinaryFrameType.Publish, 1, bomb);
  let seenMax = -1;
  let thrown: unknown;
  const watched: Compressor = {
    name: 'deflate',
    compress: deflate.compress,
    decompress: (u8, max) => {
      seenMax = max;
      try {
        return deflate.decompress(u8, max);
      } catch (err) {
        thrown = err;
        throw err;
      }
    },
  };
  const limit = 64 * 1024;
  assert.equal(syncCode(() => decodeFrame(frame, { compressor: watched, maxDecompressedBytes: limit })), 'too_large');
  // The codec itself stopped at the limit (zlib's maxOutputLength), not the decoder after the fact.
  assert.equal(seenMax, limit);
  assert.ok(thrown instanceof BinaryProtocolError && thrown.code === 'too_large');
  // With room for all 16 MiB it decompresses (and then fails as JSON): the limit, nothing else, stopped it.
  assert.equal(syncCode(() => decodeFrame(frame, { compressor: deflate, maxDecompressedBytes: 16 * 1024 * 1024 })), 'bad_payload');
  // An exact fit is allowed; one byte less is not.
  const exact = rawFrame(BinaryFrameType.Publish, 1, zlib.deflateRawSync(Buffer.from('{"room":"r","data":1}')));
  assert.equal(syncCode(() => decodeFrame(exact, { compressor: deflate, maxDecompressedBytes: 21 })), 'ok');
  assert.equal(syncCode(() => decodeFrame(exact, { compressor: deflate, maxDecompressedBytes: 20 })), 'too_large');
});

test('browser codec: CompressionStream deflate-raw round-trips and interoperates with node:zlib', async () => {
  assert.equal(isWebDeflateAvailable(), true); // Node ≥ 20 has it, like current browsers
  const viaWeb = await encodeFrameAsync(BinaryFrameType.Message, fromMsg(bigMessage), { seq: 77, compressor: web });
  assert.equal(viaWeb[3], 1);
  assert.deepEqual(toV1(await decodeFrameAsync(viaWeb, { compressor: web })), bigMessage);
  assert.deepEqual(toV1(decodeFrame(viaWeb, { compressor: deflate })), bigMessage);
  const viaNode = encodeV1(bigMessage, 'server', { compressor: deflate });
  assert.deepEqual(toV1(await decodeFrameAsync(viaNode, { compressor: web })), bigMessage);
  // A sync codec also works on the async path.
  assert.deepEqual(toV1(await decodeFrameAsync(viaNode, { compressor: deflate })), bigMessage);
});

test('browser codec: a bomb is cut at the limit; a corrupt stream is decompress_failed', async () => {
  const bomb = zlib.deflateRawSync(Buffer.alloc(16 * 1024 * 1024), { level: 9 });
  const frame = rawFrame(BinaryFrameType.Publish, 1, bomb);
  assert.equal(await asyncCode(() => decodeFrameAsync(frame, { compressor: web, maxDecompressedBytes: 64 * 1024 })), 'too_large');
  const corrupt = rawFrame(BinaryFrameType.Publish, 1, new Uint8Array([0xff, 0xfe, 0xfd, 0xfc]));
  assert.equal(await asyncCode(() => decodeFrameAsync(corrupt, { compressor: web })), 'decompress_failed');
  const cut = zlib.deflateRawSync(Buffer.from(JSON.stringify({ room: 'r', data: 'z'.repeat(5000) })));
  const truncatedStream = rawFrame(BinaryFrameType.Publish, 1, cut.subarray(0, cut.length - 4));
  assert.equal(await asyncCode(() => decodeFrameAsync(truncatedStream, { compressor: web })), 'decompress_failed');
  assert.equal(syncCode(() => decodeFrame(truncatedStream, { compressor: deflate })), 'decompress_failed');
});

test('browser codec: the ordered decoder settles in arrival order, even when a later frame is faster', async () => {
  const slow: typeof web = {
    name: 'deflate',
    compress: web.compress,
    decompress: async (u8, max) => {
      await new Promise((resolve) => setTimeout(resolve, 30));
      return web.decompress(u8, max);
    },
  };
  const big = encodeV1(bigMessage, 'server', { compressor: deflate });
  const small = encodeV1({ type: 'pong' }, 'server');
  const corrupt = rawFrame(BinaryFrameType.Reply, 1, new Uint8Array([0xff])); // fails slowly, in the codec
  const order: string[] = [];
  const decode = createOrderedDecoder({ compressor: slow, sender: 'server' });
  const done = [
    decode(big).then((d) => order.push(d.info.name)),
    decode(corrupt).catch((err: BinaryProtocolError) => order.push(err.code)),
    decode(small).then((d) => order.push(d.info.name)),
  ];
  await Promise.all(done);
  assert.deepEqual(order, ['Message', 'decompress_failed', 'Pong']);
  // Unordered, the small frame wins the race: this is what the ordered decoder prevents.
  const race: string[] = [];
  await Promise.all([
    decodeFrameAsync(big, { compressor: slow }).then(() => race.push('big')),
    decodeFrameAsync(small, { compressor: slow }).then(() => race.push('small')),
  ]);
  assert.deepEqual(race, ['small', 'big']);
});

test('zstd: a real round trip where node:zlib has it, a clean refusal where it does not', () => {
  // One test, two branches: whichever runtime runs it, it asserts that runtime's behaviour (nothing is skipped).
  if (!hasZstd) {
    assert.deepEqual(docs.nodeCodecs(), ['deflate'], 'zstd must not be offered without node:zlib zstd');
    assert.throws(() => docs.nodeCompressor('zstd'), /zstd needs Node/);
    return;
  }
  assert.deepEqual(docs.nodeCodecs(), ['zstd', 'deflate']);
  const zstd = docs.nodeCompressor('zstd');
  const f = encodeV1(bigMessage, 'server', { compressor: zstd });
  assert.equal(f[3], 2);
  assert.deepEqual(toV1(decodeFrame(f, { compressor: zstd })), bigMessage);
  const bomb = (zlib as unknown as { zstdCompressSync(b: Buffer): Buffer }).zstdCompressSync(Buffer.alloc(16 * 1024 * 1024));
  assert.equal(syncCode(() => decodeFrame(rawFrame(BinaryFrameType.Publish, 2, bomb), { compressor: zstd, maxDecompressedBytes: 65536 })), 'too_large');
});

test('negotiation: parse the offer, choose, announce', () => {
  assert.deepEqual(parseCompressionOffer('zstd, Deflate ,none'), ['zstd', 'deflate', 'none']);
  assert.deepEqual(parseCompressionOffer('br,deflate,deflate,gzip'), ['deflate']);
  assert.deepEqual(parseCompressionOffer(''), []);
  assert.deepEqual(parseCompressionOffer(null), []);
  assert.deepEqual(parseCompressionOffer(undefined), []);
  assert.deepEqual(parseCompressionOffer('x'.repeat(200) + ',deflate'), []); // only the first 128 chars are read
  assert.equal(chooseCompression(['zstd', 'deflate'], ['deflate']), 'deflate');
  assert.equal(chooseCompression(['zstd', 'deflate'], ['zstd', 'deflate']), 'zstd');
  assert.equal(chooseCompression(['deflate', 'zstd'], ['zstd', 'deflate']), 'deflate'); // the client's order wins
  assert.equal(chooseCompression(['none', 'deflate'], ['deflate']), 'none');
  assert.equal(chooseCompression([], ['deflate']), 'none');
  assert.equal(chooseCompression(['zstd'], ['deflate']), 'none');
  assert.equal(formatCompressionOffer(['deflate', 'none']), 'deflate,none');
});

test('fuzz: compressed frames with any one byte changed only fail with typed errors', () => {
  fc.assert(
    fc.property(fc.string({ minLength: 0, maxLength: 3000 }), fc.nat(), fc.integer({ min: 1, max: 255 }), (text, at, xor) => {
      const frame = encodeFrame(BinaryFrameType.Publish, { room: 'r', data: text }, { compressor: deflate, threshold: 0 });
      const i = at % frame.length;
      const m = frame.slice();
      m[i] = m[i]! ^ xor;
      const r = safeDecode(m);
      if (i >= 4 && i < 8) assert.equal(codeOf(r), 'crc_mismatch');
      if (i >= 16) assert.equal(codeOf(r), 'crc_mismatch');
    }),
    { numRuns: 2000, seed: SEED },
  );
});

test('fuzz: hostile compressed bodies with a correct CRC only fail with typed errors, within the limit', () => {
  const seen = new Set<string>();
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 400 }), fc.boolean(), (body, fromReal) => {
      // Half the cases start from a real deflate stream, so inflate gets past the first block.
      const real = zlib.deflateRawSync(Buffer.from(JSON.stringify({ room: 'r', data: Array.from(body) })));
      const bytes = fromReal ? Uint8Array.from([...real.subarray(0, Math.max(1, real.length - (body[0] ?? 0) % 8)), ...body.subarray(0, 4)]) : body;
      const r = safeDecode(rawFrame(BinaryFrameType.Publish, 1, bytes), { maxDecompressedBytes: 2048 });
      seen.add(codeOf(r));
    }),
    { numRuns: 2000, seed: SEED },
  );
  assert.ok(seen.has('decompress_failed'), [...seen].join(','));
});

test('fuzz (async path): hostile compressed bodies only fail with typed errors', async () => {
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ maxLength: 200 }), async (body) => {
      try {
        await decodeFrameAsync(rawFrame(BinaryFrameType.Publish, 1, body), { compressor: web, maxDecompressedBytes: 2048 });
      } catch (err) {
        if (!(err instanceof BinaryProtocolError)) throw new Error(`non-typed error: ${String(err)}`, { cause: err });
      }
    }),
    { numRuns: 2000, seed: SEED },
  );
});

function safeDecode(bytes: Uint8Array, options: { maxDecompressedBytes?: number } = {}): DecodedFrame | BinaryProtocolError {
  try {
    return decodeFrame(bytes, { compressor: deflate, ...options });
  } catch (err) {
    if (err instanceof BinaryProtocolError) return err;
    throw new Error(`decoder threw a non-BinaryProtocolError: ${String(err)}`, { cause: err });
  }
}

function fromMsg(m: typeof bigMessage): Record<string, unknown> {
  const { type: _t, seq: _s, ...rest } = m;
  return rest;
}
