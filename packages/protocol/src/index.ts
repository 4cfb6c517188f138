/**
 * The public API of @herald/protocol, listed name by name: what clients,
 * servers and tools may rely on (docs/protocol.md, docs/protocol-v2.md).
 * Module internals (header writers, per-type tables) stay unexported; this
 * package's own tests import them from their files.
 */

// Protocol v1: frames, identifiers, error codes. frames.ts holds nothing but this public
// vocabulary (every frame type, pattern and error code is part of the protocol), so it is
// exported whole; new frame types join it there.
export * from './frames.js';

// Close codes: one table, everything else derived from it.
export { CLOSE_CODES, CloseCode, TERMINAL_CLOSE_CODES, closeCodeInfo, type CloseAdvice, type CloseCodeInfo, type CloseCodeName, type CloseCodeValue } from './closeCodes.js';

// Protocol v2 (herald.v2.bin): the codec.
export {
  decodeFrame,
  bytesPayload,
  decodeFrameAsync,
  encodeFrame,
  encodeFrameAsync,
  serializePayload,
  type PayloadInput,
  type AsyncDecodeOptions,
  type AsyncEncodeOptions,
  type Crc32Function,
  type DecodeOptions,
  type DecodedFrame,
  type EncodeOptions,
} from './binary/codec.js';
export { encodeV1, fromV1, toV1, type V2Parts } from './binary/v1.js';
export { BinaryFrameType, FRAME_TYPES, type FrameTypeId, type FrameTypeName, type PayloadKind } from './binary/frameTypes.js';
export { BinaryErrorCode, BinaryProtocolError, isBinaryProtocolError, type BinaryErrorCodeValue } from './binary/errors.js';
export { BINARY_HEADER_BYTES, BINARY_MAGIC, BINARY_MAX_PAYLOAD, BINARY_MAX_SEQ, BINARY_VERSION, HeaderOffset, readHeader, writeHeader, type CompressionName, type FrameHeader } from './binary/header.js';
export { DEFAULT_COMPRESSION_THRESHOLD, isWebDeflateAvailable, webDeflateCompressor, type AsyncCompressor, type CodecName, type Compressor } from './binary/compression.js';
export { COMPRESSION_PARAM, chooseCompression, formatCompressionOffer, parseCompressionOffer, type BinaryWelcomeFrame } from './binary/negotiation.js';
export { crc32 } from './binary/crc32.js';
export { createOrderedDecoder, type OrderedDecoder } from './binary/orderedDecoder.js';

// Binary payloads (`data_b64`): strict base64.
export * from './base64.js';
