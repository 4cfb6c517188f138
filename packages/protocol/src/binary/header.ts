/**
 * The fixed 16-byte header of a binary v2 frame. All integers big-endian.
 *
 * | offset | size | field       | value                                            |
 * |-------:|-----:|-------------|--------------------------------------------------|
 * | 0      | 1    | magic       | 0x48 ('H')                                       |
 * | 1      | 1    | version     | 0x02                                             |
 * | 2      | 1    | frame type  | see frameTypes.ts                                |
 * | 3      | 1    | compression | 0 none, 1 deflate (raw, RFC 1951), 2 zstd        |
 * | 4      | 4    | CRC32       | CRC-32 (IEEE) of the payload bytes as sent       |
 * | 8      | 3    | length      | payload length in bytes, u24 (max 16 MiB − 1)    |
 * | 11     | 5    | seq         | u40 (max 2^40 − 1); 0 = no seq                   |
 *
 * Why these widths: the per-user `seq` outlives any single connection and a
 * long-lived user can pass 2^32, so seq gets 40 bits (at 1,000 reliable
 * messages per second to one user, forever, it lasts 34 years). The bytes come
 * from the length: a WebSocket message is already length-delimited and capped
 * far below 16 MiB by every sane server, so a 24-bit length loses nothing, and
 * the magic is one byte because the subprotocol handshake already says what
 * the frames are — magic + version form a 2-byte signature "H\x02".
 * The CRC covers the payload only, never the header: that is what lets a
 * server stamp a different seq into a copy of an encoded frame without
 * recomputing anything (see `withSeq`).
 */
import { BinaryErrorCode, BinaryProtocolError } from './errors.js';

export const BINARY_HEADER_BYTES = 16;
export const BINARY_MAGIC = 0x48;
export const BINARY_VERSION = 0x02;
/** Largest payload a frame can declare: 2^24 − 1 bytes. */
export const BINARY_MAX_PAYLOAD = 0xff_ffff;
/** Largest seq the header can carry: 2^40 − 1. */
export const BINARY_MAX_SEQ = 0xff_ffff_ffff;

export const HeaderOffset = {
  Magic: 0,
  Version: 1,
  Type: 2,
  Compression: 3,
  Crc: 4,
  Length: 8,
  Seq: 11,
} as const;

/** Compression ids of header byte 3. */
export const CompressionId = { none: 0, deflate: 1, zstd: 2 } as const;
export type CompressionName = keyof typeof CompressionId;
const COMPRESSION_NAMES: readonly CompressionName[] = ['none', 'deflate', 'zstd'];

/** Name for a compression id, or undefined for ids this version does not define. */
export function compressionName(id: number): CompressionName | undefined {
  return COMPRESSION_NAMES[id];
}

export interface FrameHeader {
  /** Frame type byte (not yet checked against the known types). */
  type: number;
  compression: CompressionName;
  crc: number;
  /** Declared payload length in bytes. */
  length: number;
  /** 0 when the frame carries no seq. */
  seq: number;
}

/** Writes a header into `out[0..16)`. Arguments are trusted: the encoder validates them. */
export function writeHeader(out: Uint8Array, type: number, compression: CompressionName, crc: number, length: number, seq: number): void {
  out[0] = BINARY_MAGIC;
  out[1] = BINARY_VERSION;
  out[2] = type;
  out[3] = CompressionId[compression];
  out[4] = crc >>> 24;
  out[5] = (crc >>> 16) & 0xff;
  out[6] = (crc >>> 8) & 0xff;
  out[7] = crc & 0xff;
  out[8] = length >>> 16;
  out[9] = (length >>> 8) & 0xff;
  out[10] = length & 0xff;
  writeSeq(out, seq);
}

/** Writes the 40-bit seq at offset 11. Bit operators are 32-bit in JS, so the top byte is split off by division. */
export function writeSeq(out: Uint8Array, seq: number): void {
  const high = Math.floor(seq / 0x1_0000_0000);
  const low = seq >>> 0;
  out[11] = high & 0xff;
  out[12] = low >>> 24;
  out[13] = (low >>> 16) & 0xff;
  out[14] = (low >>> 8) & 0xff;
  out[15] = low & 0xff;
}

/**
 * Reads and checks the fixed part of a header: length ≥ 16, magic, version,
 * compression id. The frame type is returned unchecked (the codec knows which
 * types are acceptable). Throws `BinaryProtocolError`; never allocates beyond
 * the returned object.
 */
export function readHeader(bytes: Uint8Array): FrameHeader {
  if (bytes.length < BINARY_HEADER_BYTES) {
    throw new BinaryProtocolError(BinaryErrorCode.Truncated, `frame of ${bytes.length} bytes is shorter than the ${BINARY_HEADER_BYTES}-byte header`);
  }
  if (bytes[0] !== BINARY_MAGIC) throw new BinaryProtocolError(BinaryErrorCode.BadMagic, `bad magic 0x${hex(bytes[0]!)}`);
  if (bytes[1] !== BINARY_VERSION) throw new BinaryProtocolError(BinaryErrorCode.BadVersion, `unsupported version ${bytes[1]!}`);
  const compression = compressionName(bytes[3]!);
  if (compression === undefined) throw new BinaryProtocolError(BinaryErrorCode.BadCompression, `unknown compression id ${bytes[3]!}`);
  const crc = ((bytes[4]! << 24) | (bytes[5]! << 16) | (bytes[6]! << 8) | bytes[7]!) >>> 0;
  const length = (bytes[8]! << 16) | (bytes[9]! << 8) | bytes[10]!;
  const low = ((bytes[12]! << 24) | (bytes[13]! << 16) | (bytes[14]! << 8) | bytes[15]!) >>> 0;
  const seq = bytes[11]! * 0x1_0000_0000 + low;
  return { type: bytes[2]!, compression, crc, length, seq };
}

function hex(b: number): string {
  return b.toString(16).padStart(2, '0');
}
