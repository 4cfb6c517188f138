/**
 * node:zlib compressors for protocol v2. This file is the "Node compressors"
 * block of docs/protocol-v2.md verbatim (the protocol tests run the block from
 * the doc; a server test checks this file still equals it).
 */
import { constants as bufferConstants } from 'node:buffer';
import * as zlib from 'node:zlib';
import { BinaryErrorCode, BinaryProtocolError, type CodecName, type Compressor } from '@herald/protocol';

// node:zlib has zstd from Node 22.15 / 23.8 on; @types/node 20 does not declare it.
type ZstdSync = (input: Uint8Array, options?: { maxOutputLength?: number }) => Buffer;
const zstd = zlib as unknown as { zstdCompressSync?: ZstdSync; zstdDecompressSync?: ZstdSync };

/** Codecs this runtime provides, in the server's preference order. */
export function nodeCodecs(): CodecName[] {
  return zstd.zstdCompressSync && zstd.zstdDecompressSync ? ['zstd', 'deflate'] : ['deflate'];
}

/**
 * A synchronous Compressor on node:zlib. `deflate` is raw DEFLATE; `level`
 * (deflate only, 0–9, default 6) trades CPU for size — the server compresses
 * once per message, not per recipient, so the default level is affordable.
 */
export function nodeCompressor(name: CodecName, options: { level?: number } = {}): Compressor {
  if (name === 'deflate') {
    const level = options.level ?? 6;
    return {
      name,
      compress: (input) => zlib.deflateRawSync(input, { level }),
      decompress: (input, max) => bounded(max, (maxOutputLength) => zlib.inflateRawSync(input, { maxOutputLength })),
    };
  }
  const { zstdCompressSync, zstdDecompressSync } = zstd;
  if (!zstdCompressSync || !zstdDecompressSync) throw new Error('zstd needs Node >= 22.15 (node:zlib)');
  return {
    name,
    compress: (input) => zstdCompressSync(input),
    decompress: (input, max) => bounded(max, (maxOutputLength) => zstdDecompressSync(input, { maxOutputLength })),
  };
}

/**
 * zlib stops inflating at maxOutputLength and throws ERR_BUFFER_TOO_LARGE, so
 * a decompression bomb costs at most `max` bytes. The decoder re-checks the
 * output size, so clamping to zlib's accepted range (1 … MAX_LENGTH) is safe.
 */
function bounded(max: number, run: (maxOutputLength: number) => Buffer): Uint8Array {
  const maxOutputLength = Math.min(Math.max(1, max), bufferConstants.MAX_LENGTH);
  try {
    return run(maxOutputLength);
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new BinaryProtocolError(BinaryErrorCode.TooLarge, `decompressed payload exceeds ${max} bytes`);
    }
    throw new BinaryProtocolError(BinaryErrorCode.DecompressFailed, `decompression failed: ${(err as Error).message}`, { cause: err });
  }
}
