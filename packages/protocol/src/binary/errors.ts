/**
 * The one error type the binary v2 decoder throws. Every malformed, hostile or
 * oversized input ends as a `BinaryProtocolError` with a stable `code`, so the
 * server can map it to a close code without parsing messages, and fuzz tests
 * can assert that nothing else ever escapes.
 */
import { CloseCode } from '../closeCodes.js';

export const BinaryErrorCode = {
  /** Byte 0 is not the magic 0x48 ('H'): not a Herald v2 frame at all. */
  BadMagic: 'bad_magic',
  /** Byte 1 is not a protocol version this decoder speaks (2). */
  BadVersion: 'bad_version',
  /** Byte 2 is not a known frame type, or a type the peer may not send. */
  UnknownType: 'unknown_type',
  /** Fewer bytes than the 16-byte header, or than the declared payload length. */
  Truncated: 'truncated',
  /** More bytes after the declared payload: one WebSocket message holds exactly one frame. */
  LengthMismatch: 'length_mismatch',
  /** Declared payload or decompressed size over the receiver's limit. */
  TooLarge: 'too_large',
  /** CRC32 of the payload does not match the header. */
  CrcMismatch: 'crc_mismatch',
  /** Unknown compression id, or a codec that was not negotiated on this connection. */
  BadCompression: 'bad_compression',
  /** The codec rejected the compressed payload (corrupt, truncated stream). */
  DecompressFailed: 'decompress_failed',
  /** The payload is not what the frame type requires (UTF-8 JSON object, or empty). */
  BadPayload: 'bad_payload',
} as const;

export type BinaryErrorCodeValue = (typeof BinaryErrorCode)[keyof typeof BinaryErrorCode];

export class BinaryProtocolError extends Error {
  override readonly name = 'BinaryProtocolError';
  readonly code: BinaryErrorCodeValue;

  constructor(code: BinaryErrorCodeValue, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  /**
   * The WebSocket close code the receiver should use: 1009 for `too_large`
   * ("fix the sender": the frame is well-formed but over a limit), 4000 for
   * everything else (malformed frame / protocol violation).
   */
  get closeCode(): 1009 | 4000 {
    return this.code === BinaryErrorCode.TooLarge ? CloseCode.MessageTooBig : CloseCode.ProtocolError;
  }
}

/** Narrowing helper for `catch (err)` blocks. */
export function isBinaryProtocolError(err: unknown): err is BinaryProtocolError {
  return err instanceof BinaryProtocolError;
}
