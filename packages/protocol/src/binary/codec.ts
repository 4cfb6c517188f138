/**
 * Encoder and decoder of binary v2 frames (header layout in header.ts).
 *
 * Encoding is meant to happen once per message, not per recipient: the result
 * is a plain Uint8Array the server writes unchanged to every socket. Reliable
 * messages carry a per-user seq in the header; since the CRC covers only the
 * payload, `withSeq` re-stamps a copy for another user without re-serializing,
 * re-compressing or re-hashing anything.
 *
 * Decoding trusts nothing: every failure is a `BinaryProtocolError`, and
 * declared sizes are checked against the caller's limits before any payload
 * byte is touched, copied or decompressed.
 */
import { decodeBase64, encodeBase64 } from '../base64.js';
import { crc32 } from './crc32.js';
import { type AsyncCompressor, type Compressor, DEFAULT_COMPRESSION_THRESHOLD } from './compression.js';
import { BinaryErrorCode, BinaryProtocolError } from './errors.js';
import { type FrameTypeId, type FrameTypeInfo, type FrameSender, BinaryFrameType, frameTypeInfo } from './frameTypes.js';
import { type CompressionName, BINARY_HEADER_BYTES, BINARY_MAX_PAYLOAD, BINARY_MAX_SEQ, BINARY_MAGIC, BINARY_VERSION, readHeader, writeHeader, writeSeq } from './header.js';

/** Default for `DecodeOptions.maxPayloadBytes` and `maxDecompressedBytes`: 1 MiB. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024;

/**
 * What `encodeFrame` accepts as a payload:
 * - an object: serialized with JSON.stringify (must not contain `type`, nor
 *   `seq` for message/ack frames: those live in the header);
 * - a Uint8Array: already-serialized UTF-8 JSON of such an object, used as is;
 * - null/undefined: for the frame types without payload (ack, ping, pong).
 */
export type PayloadInput = object | Uint8Array | null | undefined;

/**
 * A CRC-32/ISO-HDLC implementation giving exactly what `crc32(data)` gives —
 * e.g. Node's native `zlib.crc32` (Node ≥ 20.15), several times faster than
 * the package's pure-TypeScript one. Default: the package's `crc32`.
 */
export type Crc32Function = (data: Uint8Array) => number;

export interface EncodeOptions {
  /**
   * Header seq. message: 1 … 2^40−1 for reliable messages, 0 (default) for
   * none; ack: the acked seq, 0 … 2^40−1; every other type: must be 0.
   */
  seq?: number;
  /** The connection's negotiated codec; null/undefined (default) never compresses. */
  compressor?: Compressor | null;
  /** Minimum uncompressed payload size in bytes worth compressing. Default 1024. */
  threshold?: number;
  /** CRC32 implementation (same results as `crc32`). Default: the package's `crc32`. */
  crc32?: Crc32Function;
}

export interface AsyncEncodeOptions extends Omit<EncodeOptions, 'compressor'> {
  compressor?: Compressor | AsyncCompressor | null;
}

export interface DecodeOptions {
  /** Largest payload accepted as sent (after the header, before decompression), in bytes. Default 1 MiB. */
  maxPayloadBytes?: number;
  /** Largest payload accepted after decompression, in bytes. Default 1 MiB. */
  maxDecompressedBytes?: number;
  /**
   * The connection's negotiated codec. A frame compressed with any other codec
   * (or with any codec when this is null/undefined, the default) is rejected
   * as `bad_compression`.
   */
  compressor?: Compressor | null;
  /**
   * Who sent the bytes. When set, frame types of the other direction are
   * rejected as `unknown_type` (a server decodes with `sender: 'client'`).
   */
  sender?: FrameSender;
  /** CRC32 implementation (same results as `crc32`). Default: the package's `crc32`. */
  crc32?: Crc32Function;
}

export interface AsyncDecodeOptions extends Omit<DecodeOptions, 'compressor'> {
  compressor?: Compressor | AsyncCompressor | null;
}

export interface DecodedFrame {
  type: FrameTypeId;
  info: FrameTypeInfo;
  /** Header seq for message (0 = unreliable) and ack frames; always 0 for other types. */
  seq: number;
  /** How the payload travelled. */
  compression: CompressionName;
  /** The JSON payload object; null for the types without payload (ack, ping, pong). */
  payload: Record<string, unknown> | null;
}

const utf8Encoder = new TextEncoder();
// fatal: invalid UTF-8 is a malformed frame, not something to patch with U+FFFD.
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

// ---------------------------------------------------------------- encoding

/**
 * Builds one frame. Throws TypeError/RangeError for caller bugs (unknown type,
 * payload shape not matching the type, seq out of range) and
 * `BinaryProtocolError('too_large')` when the payload cannot fit a frame
 * (over 16 MiB − 1 bytes after compression).
 */
export function encodeFrame(type: FrameTypeId, payload: PayloadInput, options: EncodeOptions = {}): Uint8Array {
  const info = requireType(type);
  const seq = checkSeq(info, options.seq ?? 0);
  const raw = payloadBytes(info, payload);
  const c = options.compressor;
  if (c && shouldCompress(raw, options.threshold)) {
    const packed = c.compress(raw);
    // Keep the compressed form only when it pays: the receiver then skips decompression.
    if (packed.length < raw.length) return assemble(info.id, c.name, packed, seq, options.crc32);
  }
  return assemble(info.id, 'none', raw, seq, options.crc32);
}

/** `encodeFrame` with a possibly asynchronous codec (e.g. `webDeflateCompressor()` in browsers). */
export async function encodeFrameAsync(type: FrameTypeId, payload: PayloadInput, options: AsyncEncodeOptions = {}): Promise<Uint8Array> {
  const info = requireType(type);
  const seq = checkSeq(info, options.seq ?? 0);
  const raw = payloadBytes(info, payload);
  const c = options.compressor;
  if (c && shouldCompress(raw, options.threshold)) {
    const packed = await c.compress(raw);
    if (packed.length < raw.length) return assemble(info.id, c.name, packed, seq, options.crc32);
  }
  return assemble(info.id, 'none', raw, seq, options.crc32);
}

/**
 * A copy of an encoded message/ack frame with another header seq — for
 * fanning one reliable message out to many users, each with their own seq.
 * Costs one copy; the payload, compression and CRC stay as they are.
 */
export function withSeq(frame: Uint8Array, seq: number): Uint8Array {
  if (frame.length < BINARY_HEADER_BYTES || frame[0] !== BINARY_MAGIC || frame[1] !== BINARY_VERSION) throw new TypeError('withSeq: not an encoded v2 frame');
  const info = requireType(frame[2]!);
  // new Uint8Array(view) always copies; Buffer#slice would not, and would re-stamp the original.
  const out = new Uint8Array(frame);
  writeSeq(out, checkSeq(info, seq));
  return out;
}

function shouldCompress(raw: Uint8Array, threshold = DEFAULT_COMPRESSION_THRESHOLD): boolean {
  return raw.length > 0 && raw.length >= threshold;
}

function requireType(type: number): FrameTypeInfo {
  const info = frameTypeInfo(type);
  if (!info) throw new TypeError(`unknown v2 frame type ${type}`);
  return info;
}

function checkSeq(info: FrameTypeInfo, seq: number): number {
  if (!Number.isInteger(seq) || seq < 0 || seq > BINARY_MAX_SEQ) throw new RangeError(`seq must be an integer in 0 … ${BINARY_MAX_SEQ}, got ${seq}`);
  if (seq !== 0 && !info.headerSeq) throw new RangeError(`${info.name} frames carry no seq (got ${seq})`);
  return seq;
}

/** The payload bytes `encodeFrame` would send for `payload` (JSON, or the `bytes` layout for data_b64 frames). */
export function serializePayload(type: FrameTypeId, payload: PayloadInput): Uint8Array {
  return payloadBytes(requireType(type), payload);
}

function payloadBytes(info: FrameTypeInfo, payload: PayloadInput): Uint8Array {
  if (info.payload === 'empty') {
    if (payload == null || (payload instanceof Uint8Array && payload.length === 0)) return new Uint8Array(0);
    throw new TypeError(`${info.name} frames have no payload`);
  }
  if (payload instanceof Uint8Array) return payload;
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
    throw new TypeError(`${info.name} frames need a JSON object payload`);
  }
  if (Object.hasOwn(payload, 'type')) throw new TypeError('the payload must not contain `type`: the header carries it');
  if (info.headerSeq && Object.hasOwn(payload, 'seq')) throw new TypeError(`the ${info.name} payload must not contain \`seq\`: the header carries it`);
  if (info.payload === 'bytes') {
    const { data_b64: b64, ...meta } = payload as Record<string, unknown>;
    if (typeof b64 !== 'string') throw new TypeError(`${info.name} frames need \`data_b64\``);
    return bytesPayload(meta, decodeBase64(b64));
  }
  if (info.payload === 'frames') return batchPayload(payload as Record<string, unknown>);
  return utf8Encoder.encode(JSON.stringify(payload));
}

/**
 * A Batch payload from its v1 shape `{messages: [message frames]}`: each
 * message becomes an uncompressed Message/MessageBytes frame (its seq in its
 * own header), one after the other. (The server, which has the frames already,
 * passes their concatenation as a Uint8Array instead.)
 */
function batchPayload(payload: Record<string, unknown>): Uint8Array {
  const list = payload['messages'];
  if (!Array.isArray(list) || Object.keys(payload).length !== 1) throw new TypeError('Batch frames need exactly `messages`: an array of message frames');
  const frames = list.map((m: unknown) => {
    if (m === null || typeof m !== 'object' || (m as { type?: unknown }).type !== 'message') throw new TypeError('a batch holds message frames only');
    const { type: _type, seq, ...rest } = m as Record<string, unknown>;
    const info = requireType(typeof rest['data_b64'] === 'string' ? BinaryFrameType.MessageBytes : BinaryFrameType.Message);
    return assemble(info.id, 'none', payloadBytes(info, rest), checkSeq(info, seq === undefined ? 0 : (seq as number)));
  });
  const out = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
  let at = 0;
  for (const f of frames) {
    out.set(f, at);
    at += f.length;
  }
  return out;
}

function assemble(type: number, compression: CompressionName, body: Uint8Array, seq: number, crc: Crc32Function = crc32): Uint8Array {
  if (body.length > BINARY_MAX_PAYLOAD) {
    throw new BinaryProtocolError(BinaryErrorCode.TooLarge, `payload of ${body.length} bytes exceeds the v2 frame maximum of ${BINARY_MAX_PAYLOAD}`);
  }
  const out = new Uint8Array(BINARY_HEADER_BYTES + body.length);
  writeHeader(out, type, compression, crc(body) >>> 0, body.length, seq);
  out.set(body, BINARY_HEADER_BYTES);
  return out;
}

// ---------------------------------------------------------------- decoding

/**
 * Decodes one frame (one whole WebSocket binary message). Throws only
 * `BinaryProtocolError`. Checks, in order: header size, magic, version,
 * compression id, frame type (and direction), declared length against
 * `maxPayloadBytes`, actual length, codec negotiated, CRC32, decompression
 * within `maxDecompressedBytes`, payload shape.
 */
export function decodeFrame(bytes: Uint8Array | ArrayBuffer, options: DecodeOptions = {}): DecodedFrame {
  const f = checkFrame(bytes, options);
  if (f.compression === 'none') return finish(f, f.body, options.crc32);
  const c = f.codec as Compressor;
  let raw: Uint8Array;
  try {
    raw = c.decompress(f.body, f.maxOut);
  } catch (err) {
    throw asDecompressError(err);
  }
  return finish(f, checkDecompressed(raw, f.maxOut), options.crc32);
}

/** `decodeFrame` with a possibly asynchronous codec (e.g. `webDeflateCompressor()` in browsers). */
export async function decodeFrameAsync(bytes: Uint8Array | ArrayBuffer, options: AsyncDecodeOptions = {}): Promise<DecodedFrame> {
  const f = checkFrame(bytes, options);
  if (f.compression === 'none') return finish(f, f.body, options.crc32);
  let raw: Uint8Array;
  try {
    raw = await f.codec!.decompress(f.body, f.maxOut);
  } catch (err) {
    throw asDecompressError(err);
  }
  return finish(f, checkDecompressed(raw, f.maxOut), options.crc32);
}

interface CheckedFrame {
  info: FrameTypeInfo;
  seq: number;
  compression: CompressionName;
  /** A view into the input: never copied. */
  body: Uint8Array;
  codec: Compressor | AsyncCompressor | null;
  maxOut: number;
}

function checkFrame(input: Uint8Array | ArrayBuffer, options: AsyncDecodeOptions): CheckedFrame {
  const bytes = input instanceof Uint8Array ? input : new Uint8Array(input);
  const h = readHeader(bytes);
  const info = frameTypeInfo(h.type);
  if (!info) throw new BinaryProtocolError(BinaryErrorCode.UnknownType, `unknown frame type 0x${h.type.toString(16)}`);
  if (options.sender !== undefined && info.sender !== options.sender) {
    throw new BinaryProtocolError(BinaryErrorCode.UnknownType, `${info.name} frames are not sent by the ${options.sender}`);
  }
  // The size check comes before anything looks at the payload: a header that
  // declares a huge payload is refused on its 16 bytes alone.
  const maxPayload = options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
  if (h.length > maxPayload) throw new BinaryProtocolError(BinaryErrorCode.TooLarge, `declared payload of ${h.length} bytes exceeds the limit of ${maxPayload}`);
  const actual = bytes.length - BINARY_HEADER_BYTES;
  if (actual < h.length) throw new BinaryProtocolError(BinaryErrorCode.Truncated, `payload has ${actual} of ${h.length} declared bytes`);
  if (actual > h.length) throw new BinaryProtocolError(BinaryErrorCode.LengthMismatch, `${actual - h.length} bytes after the declared payload`);
  let codec: Compressor | AsyncCompressor | null = null;
  if (h.compression !== 'none') {
    if (info.payload === 'empty') throw new BinaryProtocolError(BinaryErrorCode.BadPayload, `${info.name} frames have no payload to compress`);
    codec = options.compressor ?? null;
    if (codec === null || codec.name !== h.compression) {
      throw new BinaryProtocolError(BinaryErrorCode.BadCompression, `${h.compression} was not negotiated on this connection`);
    }
  }
  const body = bytes.subarray(BINARY_HEADER_BYTES);
  const crc = (options.crc32 ?? crc32)(body) >>> 0;
  if (crc !== h.crc) throw new BinaryProtocolError(BinaryErrorCode.CrcMismatch, `CRC32 0x${hex32(crc)} does not match the header's 0x${hex32(h.crc)}`);
  return {
    info,
    seq: info.headerSeq ? h.seq : 0,
    compression: h.compression,
    body,
    codec,
    maxOut: options.maxDecompressedBytes ?? DEFAULT_MAX_PAYLOAD_BYTES,
  };
}

function asDecompressError(err: unknown): BinaryProtocolError {
  if (err instanceof BinaryProtocolError) return err;
  // A codec compiled against another copy of this package throws a look-alike
  // class; its limit verdict must survive, or a bomb would read as corruption.
  if (err instanceof Error && err.name === 'BinaryProtocolError' && (err as { code?: unknown }).code === BinaryErrorCode.TooLarge) {
    return new BinaryProtocolError(BinaryErrorCode.TooLarge, err.message, { cause: err });
  }
  return new BinaryProtocolError(BinaryErrorCode.DecompressFailed, `decompression failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}

function checkDecompressed(raw: unknown, maxOut: number): Uint8Array {
  // A codec that ignores its limit (or returns junk) must not get past us.
  if (!(raw instanceof Uint8Array)) throw new BinaryProtocolError(BinaryErrorCode.DecompressFailed, 'codec returned no bytes');
  if (raw.length > maxOut) throw new BinaryProtocolError(BinaryErrorCode.TooLarge, `decompressed payload of ${raw.length} bytes exceeds the limit of ${maxOut}`);
  return raw;
}

function finish(f: CheckedFrame, raw: Uint8Array, crc?: Crc32Function): DecodedFrame {
  const payload = f.info.payload === 'frames' ? parseBatch(raw, crc) : parsePayload(f.info, raw);
  return { type: f.info.id, info: f.info, seq: f.seq, compression: f.compression, payload };
}

/**
 * A Batch payload: whole Message/MessageBytes frames back to back, each
 * uncompressed (the batch as a whole is what gets compressed) and checked like
 * any frame (length, CRC, payload). Gives the v1 shape's `{messages: […]}`,
 * each entry a v1 `message` object with its `seq` when the header had one.
 */
function parseBatch(raw: Uint8Array, crc?: Crc32Function): Record<string, unknown> {
  const messages: Record<string, unknown>[] = [];
  let at = 0;
  while (at < raw.length) {
    const rest = raw.subarray(at);
    const h = readHeader(rest);
    if (h.type !== BinaryFrameType.Message && h.type !== BinaryFrameType.MessageBytes) {
      throw new BinaryProtocolError(BinaryErrorCode.BadPayload, `a batch holds Message and MessageBytes frames only, not type 0x${h.type.toString(16)}`);
    }
    if (h.compression !== 'none') throw new BinaryProtocolError(BinaryErrorCode.BadPayload, 'frames inside a batch are not compressed (the batch is)');
    const end = BINARY_HEADER_BYTES + h.length;
    if (end > rest.length) throw new BinaryProtocolError(BinaryErrorCode.Truncated, `batch entry declares ${h.length} bytes, ${rest.length - BINARY_HEADER_BYTES} left`);
    const inner = decodeFrame(rest.subarray(0, end), { maxPayloadBytes: h.length, sender: 'server', ...(crc ? { crc32: crc } : {}) });
    const m: Record<string, unknown> = { type: 'message', ...inner.payload };
    if (inner.seq > 0) m['seq'] = inner.seq;
    messages.push(m);
    at += end;
  }
  return { messages };
}

/**
 * A `bytes` payload: u32 length of the JSON of `meta`, that JSON, the data.
 * `meta` holds the v1 fields besides the data (and without type, header seq).
 */
export function bytesPayload(meta: object, data: Uint8Array): Uint8Array {
  const json = utf8Encoder.encode(JSON.stringify(meta));
  const out = new Uint8Array(4 + json.length + data.length);
  new DataView(out.buffer).setUint32(0, json.length);
  out.set(json, 4);
  out.set(data, 4 + json.length);
  return out;
}

function parsePayload(info: FrameTypeInfo, raw: Uint8Array): Record<string, unknown> | null {
  if (info.payload === 'empty') {
    if (raw.length !== 0) throw new BinaryProtocolError(BinaryErrorCode.BadPayload, `${info.name} frames have no payload (got ${raw.length} bytes)`);
    return null;
  }
  let data: Uint8Array | undefined;
  if (info.payload === 'bytes') {
    const len = raw.length >= 4 ? new DataView(raw.buffer, raw.byteOffset, raw.byteLength).getUint32(0) : -1;
    if (len < 0 || 4 + len > raw.length) throw new BinaryProtocolError(BinaryErrorCode.BadPayload, `${info.name} payload: bad JSON length`);
    data = raw.subarray(4 + len);
    raw = raw.subarray(4, 4 + len);
  }
  let value: unknown;
  try {
    value = JSON.parse(utf8Decoder.decode(raw));
  } catch (err) {
    throw new BinaryProtocolError(BinaryErrorCode.BadPayload, `payload is not UTF-8 JSON: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new BinaryProtocolError(BinaryErrorCode.BadPayload, `${info.name} payload must be a JSON object`);
  }
  // Two sources for one field would let a buggy or hostile peer disagree with itself.
  if (Object.hasOwn(value, 'type')) throw new BinaryProtocolError(BinaryErrorCode.BadPayload, 'payload must not contain `type`');
  if (info.headerSeq && Object.hasOwn(value, 'seq')) throw new BinaryProtocolError(BinaryErrorCode.BadPayload, `${info.name} payload must not contain \`seq\``);
  if (data !== undefined) {
    if (Object.hasOwn(value, 'data') || Object.hasOwn(value, 'data_b64')) throw new BinaryProtocolError(BinaryErrorCode.BadPayload, `${info.name} JSON must not contain data`);
    return { ...(value as Record<string, unknown>), data_b64: encodeBase64(data) };
  }
  return value as Record<string, unknown>;
}

function hex32(n: number): string {
  return n.toString(16).padStart(8, '0');
}
