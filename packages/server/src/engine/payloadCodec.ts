/**
 * Compressed storage of payloads, shared by every store that keeps message
 * data (the inbox today; room history and outboxes plug in the same way).
 *
 * A payload of at least `thresholdBytes` is compressed (zstd where node:zlib
 * has it, else deflate) and stored as base64 text with a per-entry flag
 * naming the codec; smaller ones are stored as they are, unflagged. Reading
 * looks only at the flag, so an entry written without compression (older
 * entries, or a node with compression off) reads back unchanged, and so does
 * one written by a node with another setting. A compressed form that would
 * not be smaller is not used.
 *
 * Use: `const c = createPayloadCodec({ codec, thresholdBytes })`;
 *   store `{ data, flag } = c.encode(text)` (flag undefined: plain);
 *   read with `decodePayload(data, flag)`.
 */
import * as zlib from 'node:zlib';

/** Flags stored beside an entry: which codec compressed it. */
export type PayloadFlag = 'deflate' | 'zstd';
export type PayloadCodecSetting = 'auto' | 'zstd' | 'deflate' | 'none';

type ZstdZlib = {
  zstdCompressSync?: (b: Buffer) => Buffer;
  zstdDecompressSync?: (b: Buffer) => Buffer;
};
const z = zlib as typeof zlib & ZstdZlib;

/** Whether this runtime's node:zlib has zstd (Node >= 22.15). */
export const ZSTD_AVAILABLE = typeof z.zstdCompressSync === 'function' && typeof z.zstdDecompressSync === 'function';

export interface EncodedPayload {
  data: string;
  flag?: PayloadFlag;
}

export interface PayloadCodec {
  /** The codec used for payloads over the threshold (undefined: storage is plain). */
  readonly flag: PayloadFlag | undefined;
  /**
   * Texts shorter than this many characters are stored plain (`encode` returns them as they are):
   * a store may skip the call, and the object it returns, for them. Absent: call `encode`.
   */
  readonly plainBelowChars?: number;
  encode(text: string): EncodedPayload;
}

/** A codec that stores every payload as it is. */
export const PLAIN_CODEC: PayloadCodec = { flag: undefined, encode: (text) => ({ data: text }) };

export function createPayloadCodec(o: { codec: PayloadCodecSetting; thresholdBytes: number }): PayloadCodec {
  // zstd asked for where the runtime lacks it: deflate, which every node reads.
  const flag: PayloadFlag | undefined = o.codec === 'none' ? undefined : (o.codec === 'auto' || o.codec === 'zstd') && ZSTD_AVAILABLE ? 'zstd' : 'deflate';
  if (flag === undefined) return PLAIN_CODEC;
  const compress = flag === 'zstd' ? (b: Buffer) => z.zstdCompressSync!(b) : (b: Buffer) => zlib.deflateRawSync(b, { level: 6 });
  return {
    flag,
    // text.length * 3 < thresholdBytes, as encode's pre-check below.
    plainBelowChars: Math.ceil(o.thresholdBytes / 3),
    encode(text: string): EncodedPayload {
      // Characters are at most 3 UTF-8 bytes (4 for a surrogate pair of 2): a cheap pre-check.
      if (text.length * 3 < o.thresholdBytes) return { data: text };
      const raw = Buffer.from(text, 'utf8');
      if (raw.length < o.thresholdBytes) return { data: text };
      const packed = compress(raw).toString('base64');
      return packed.length < raw.length ? { data: packed, flag } : { data: text };
    },
  };
}

/** The stored text of an entry, decompressed by its flag (unknown or absent flag: as stored). */
export function decodePayload(data: string, flag: string | undefined): string {
  if (flag === undefined || flag === '') return data;
  const packed = Buffer.from(data, 'base64');
  if (flag === 'deflate') return zlib.inflateRawSync(packed).toString('utf8');
  if (flag === 'zstd') {
    if (!ZSTD_AVAILABLE) throw new Error('entry is zstd-compressed but this runtime has no zstd (Node >= 22.15 needed)');
    return z.zstdDecompressSync!(packed).toString('utf8');
  }
  throw new Error(`entry has an unknown compression flag "${flag}"`);
}
