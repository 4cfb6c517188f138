/**
 * Pluggable payload compression. The protocol package must run in browsers,
 * so it ships no codec of its own on the synchronous path: the server passes a
 * `Compressor` built on node:zlib (see docs/protocol-v2.md, "Node
 * compressors"). Browsers only have the asynchronous CompressionStream, which
 * `webDeflateCompressor` wraps as an `AsyncCompressor` for `decodeFrameAsync`.
 */
import { BinaryErrorCode, BinaryProtocolError } from './errors.js';

/** Codec names as negotiated and as written in the header ('none' is not a codec). */
export type CodecName = 'deflate' | 'zstd';

/**
 * A synchronous codec. `deflate` means raw DEFLATE (RFC 1951: no zlib or gzip
 * wrapper — the frame's CRC32 already checks integrity); `zstd` means a zstd
 * frame (RFC 8878).
 */
export interface Compressor {
  readonly name: CodecName;
  compress(input: Uint8Array): Uint8Array;
  /**
   * Must never produce (or allocate for) more than `maxOutputBytes` bytes of
   * output: over the limit it throws `BinaryProtocolError('too_large')`.
   * Any other failure may throw anything; the decoder reports it as
   * `decompress_failed`.
   */
  decompress(input: Uint8Array, maxOutputBytes: number): Uint8Array;
}

/** The same contract, for runtimes whose codecs are asynchronous (browsers). */
export interface AsyncCompressor {
  readonly name: CodecName;
  compress(input: Uint8Array): Promise<Uint8Array>;
  decompress(input: Uint8Array, maxOutputBytes: number): Promise<Uint8Array>;
}

/** Payloads of at least this many bytes (uncompressed) are compressed when a codec is negotiated. */
export const DEFAULT_COMPRESSION_THRESHOLD = 1024;

/** True when this runtime's CompressionStream/DecompressionStream speak raw DEFLATE. */
export function isWebDeflateAvailable(): boolean {
  if (typeof DecompressionStream === 'undefined' || typeof CompressionStream === 'undefined') return false;
  try {
    // Older browsers have the streams but not the 'deflate-raw' format; the constructor throws then.
    new DecompressionStream('deflate-raw');
    new CompressionStream('deflate-raw');
    return true;
  } catch {
    return false;
  }
}

/**
 * Raw DEFLATE on the web-standard CompressionStream (browsers; Node ≥ 20 too).
 * Decompression reads the output chunk by chunk and cancels the stream as
 * soon as it passes `maxOutputBytes`, so a deflate bomb costs at most the
 * limit plus one chunk of memory.
 */
export function webDeflateCompressor(): AsyncCompressor {
  return {
    name: 'deflate',
    compress: (input) => pump(new CompressionStream('deflate-raw'), input, Number.POSITIVE_INFINITY),
    decompress: (input, maxOutputBytes) => pump(new DecompressionStream('deflate-raw'), input, maxOutputBytes),
  };
}

async function pump(stream: CompressionStream | DecompressionStream, input: Uint8Array, maxOutputBytes: number): Promise<Uint8Array> {
  const writer = stream.writable.getWriter();
  // Not awaited: with a large output the write only resolves once the reader
  // drains, so awaiting it here would deadlock. Its failures resurface on the
  // readable side, which is what we report.
  writer
    .write(input as Uint8Array<ArrayBuffer>)
    .then(() => writer.close())
    .catch(() => undefined);
  const reader = stream.readable.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > maxOutputBytes) {
      await reader.cancel().catch(() => undefined);
      throw new BinaryProtocolError(BinaryErrorCode.TooLarge, `decompressed payload exceeds ${maxOutputBytes} bytes`);
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
