/**
 * Protocol v2 (`herald.v2.bin`, docs/protocol-v2.md) on the server: what a v2
 * connection negotiated, turning the server's v1 frames into v2 frames, and
 * decoding client frames.
 *
 * The server keeps one internal frame model — v1 text, assembled from
 * pre-serialized parts — and picks the wire encoding per connection. Fan-out
 * frames are converted once per message and codec (`V2Frames`), never per
 * recipient; replies, errors and welcomes (one connection each) per send.
 */
import {
  BINARY_SUBPROTOCOL,
  BinaryFrameType,
  type CodecName,
  type CompressionName,
  type Compressor,
  type Crc32Function,
  type FrameTypeId,
  type ServerFrame,
  chooseCompression,
  decodeFrame,
  encodeFrame,
  fromV1,
  bytesPayload,
  decodeBase64,
  parseCompressionOffer,
  toV1,
} from '@herald/protocol';
import * as zlib from 'node:zlib';
import type { InboxMessage } from '../engine/types.js';
import { nodeCodecs, nodeCompressor } from './nodeCompressors.js';
import { binaryWireFrame, type WireFrame } from './wireFrame.js';

/**
 * Node's native CRC32 (node:zlib, from Node 20.15 / 22.2; @types/node 20 may
 * not declare it): the same CRC as the package's pure-TypeScript one, about 5×
 * faster on 4 KB (docs/protocol-v2.md, "CRC32"). Undefined: the package's is used.
 */
const native = (zlib as unknown as { crc32?: (data: Uint8Array) => number }).crc32;
export const nativeCrc32: Crc32Function | undefined = typeof native === 'function' ? (data) => native(data) : undefined;
const withCrc = nativeCrc32 ? { crc32: nativeCrc32 } : {};

/**
 * What a v2 connection negotiated. One object per codec, shared by every
 * connection that chose it: a v2 connection costs one field, not one object.
 */
export interface V2Session {
  readonly compression: CompressionName;
  readonly compressor: Compressor | null;
  /** Payloads of at least this many bytes are compressed (when a codec is set). */
  readonly threshold: number;
}

export interface V2Settings {
  /** Codecs the server offers (config `binaryCompression`); those the runtime lacks are dropped. */
  codecs: readonly CompressionName[];
  /** Config `binaryCompressionThresholdBytes`. */
  threshold: number;
  /** Largest client payload as sent (config `maxFrameBytes`). */
  maxPayloadBytes: number;
  /** Largest client payload after decompression (config `binaryMaxDecompressedBytes`, else `maxFrameBytes`). */
  maxDecompressedBytes: number;
}

/**
 * The subprotocol selection for ws's `handleProtocols`: `herald.v2.bin` when
 * offered; otherwise exactly what ws does without the hook (the first offered
 * protocol), so v1 clients see no change.
 */
export function selectSubprotocol(offered: Set<string>): string | false {
  if (offered.has(BINARY_SUBPROTOCOL)) return BINARY_SUBPROTOCOL;
  const first = offered.values().next();
  return first.done ? false : first.value;
}

/** The node's v2 codecs and limits: negotiation and client-frame decoding. */
export class V2Codecs {
  /** Codecs offered to clients: the configured ones this runtime provides. */
  readonly supported: CodecName[];
  private readonly sessions = new Map<CompressionName, V2Session>();
  private readonly limits: { maxPayloadBytes: number; maxDecompressedBytes: number; crc32?: Crc32Function };

  constructor(s: V2Settings) {
    const runtime = nodeCodecs();
    this.supported = s.codecs.filter((c, i): c is CodecName => c !== 'none' && runtime.includes(c) && s.codecs.indexOf(c) === i);
    this.sessions.set('none', { compression: 'none', compressor: null, threshold: s.threshold });
    for (const c of this.supported) this.sessions.set(c, { compression: c, compressor: nodeCompressor(c), threshold: s.threshold });
    this.limits = { maxPayloadBytes: s.maxPayloadBytes, maxDecompressedBytes: s.maxDecompressedBytes, ...withCrc };
  }

  /** The session for a client's `compression` query parameter (absent: none). */
  negotiate(offer: string | null | undefined): V2Session {
    return this.sessions.get(chooseCompression(parseCompressionOffer(offer), this.supported))!;
  }

  /**
   * Decodes one binary client frame into the v1 object shape, not yet
   * validated field by field (the caller runs the v1 validator on it).
   * Throws BinaryProtocolError (its `closeCode` is the close code).
   */
  decode(data: Uint8Array, s: V2Session): unknown {
    return toV1(decodeFrame(data, { sender: 'client', compressor: s.compressor, ...this.limits }));
  }
}

// ---------------------------------------------------------------- server frames

const utf8 = (text: string): Uint8Array => Buffer.from(text, 'utf8');

/**
 * Frames the server assembles itself start with `{"type":"<t>",`: for those
 * the v2 payload is the same text without the type, no JSON round trip. A
 * message text is taken this way only without any `"seq":` (the fast path must
 * never drop a header-borne seq into the payload); everything else is parsed.
 */
const FAST: readonly (readonly [string, FrameTypeId])[] = [
  ['{"type":"message",', BinaryFrameType.Message],
  ['{"type":"join",', BinaryFrameType.PresenceJoin],
  ['{"type":"leave",', BinaryFrameType.PresenceLeave],
  ['{"type":"reply",', BinaryFrameType.Reply],
  ['{"type":"error",', BinaryFrameType.Error],
  ['{"type":"welcome",', BinaryFrameType.Welcome],
  ['{"type":"state",', BinaryFrameType.StateEvent],
];

/** A frame split into what `encodeFrame` takes, the payload already serialized. */
export interface V2Parts {
  type: FrameTypeId;
  seq: number;
  payload: Uint8Array | null;
}

/** A v1 server text frame as the parts of its v2 frame. */
export function v2PartsOfText(text: string): V2Parts {
  for (const [prefix, type] of FAST) {
    if (text.startsWith(prefix) && (type !== BinaryFrameType.Message || (!text.includes('"seq":') && !text.includes('"data_b64":')))) {
      return { type, seq: 0, payload: utf8('{' + text.slice(prefix.length)) };
    }
  }
  const p = fromV1(JSON.parse(text) as ServerFrame, 'server');
  if (p.type === BinaryFrameType.MessageBytes && p.payload) {
    // Raw bytes on v2: the base64 of the internal (v1) frame is decoded once per message.
    const { data_b64: b64, ...meta } = p.payload;
    return { type: p.type, seq: p.seq, payload: bytesPayload(meta, decodeBase64(b64 as string)) };
  }
  return { type: p.type, seq: p.seq, payload: p.payload === null ? null : utf8(JSON.stringify(p.payload)) };
}

/** One v2 frame (not yet a WebSocket frame) for a v1 server text frame: replies, errors, welcome — per send. */
export function v2FromText(text: string, s: V2Session): Uint8Array {
  const p = v2PartsOfText(text);
  return encodeFrame(p.type, p.payload, { seq: p.seq, compressor: s.compressor, threshold: s.threshold, ...withCrc });
}

/** The v2 payload of a reliable message: reliableFrame() without type and seq (the header carries seq). */
export function reliablePayload(m: InboxMessage): Uint8Array {
  if (m.binary) return bytesPayload({ id: m.id, ...(m.event !== undefined ? { event: m.event } : {}), ts: m.ts }, decodeBase64(JSON.parse(m.data) as string));
  let s = '{"id":' + JSON.stringify(m.id);
  if (m.event !== undefined) s += ',"event":' + JSON.stringify(m.event);
  return utf8(s + ',"data":' + m.data + ',"ts":' + m.ts + '}');
}

/**
 * The WebSocket frames of one message for v2 connections, built lazily at most
 * once per codec and shared by every recipient that negotiated it. A payload
 * under the threshold is never compressed, so then every codec shares the one
 * uncompressed frame.
 */
export class V2Frames {
  private parts: V2Parts | undefined;
  private none: WireFrame | undefined;
  private deflate: WireFrame | undefined;
  private zstd: WireFrame | undefined;

  private constructor(private readonly source: () => V2Parts) {}

  /** For a v1 server text frame of a fan-out (message, presence event). */
  static ofText(text: string): V2Frames {
    return new V2Frames(() => v2PartsOfText(text));
  }

  /**
   * For a room batch: each message's uncompressed v2 frame, back to back, as
   * the payload of one Batch frame (compressed as a whole, when it pays).
   */
  static ofBatch(messages: readonly string[]): V2Frames {
    return new V2Frames(() => {
      const frames = messages.map((text) => {
        const p = v2PartsOfText(text);
        return encodeFrame(p.type, p.payload, { seq: p.seq, ...withCrc });
      });
      return { type: BinaryFrameType.Batch, seq: 0, payload: Buffer.concat(frames) };
    });
  }

  /** For a reliable message: header seq = the user's seq, the same for all the user's devices. */
  static ofReliable(m: InboxMessage): V2Frames {
    return new V2Frames(() => ({ type: m.binary ? BinaryFrameType.MessageBytes : BinaryFrameType.Message, seq: m.seq, payload: reliablePayload(m) }));
  }

  /** The WebSocket frame for connections of session `s`. */
  get(s: V2Session): WireFrame {
    const name = s.compression;
    const cached = name === 'none' ? this.none : name === 'deflate' ? this.deflate : this.zstd;
    if (cached) return cached;
    const p = (this.parts ??= this.source());
    let frame: WireFrame;
    if (s.compressor === null || p.payload === null || p.payload.length < s.threshold) {
      frame = this.none ??= binaryWireFrame(encodeFrame(p.type, p.payload, { seq: p.seq, ...withCrc }));
    } else {
      frame = binaryWireFrame(encodeFrame(p.type, p.payload, { seq: p.seq, compressor: s.compressor, threshold: s.threshold, ...withCrc }));
    }
    if (name === 'deflate') this.deflate = frame;
    else if (name === 'zstd') this.zstd = frame;
    return frame;
  }
}
