/**
 * The binary protocol v2 (`herald.v2.bin`, docs/protocol-v2.md) on one
 * socket. Frames are mapped to and from the v1 objects the rest of the SDK
 * handles (`fromV1`/`toV1`), so nothing above the wire knows which protocol
 * runs.
 *
 * Only the `@herald/client/binary` entry (binary.ts) imports this module: an
 * app that imports `@herald/client` does not carry the codec.
 */
import {
  BINARY_MAX_PAYLOAD,
  BINARY_SUBPROTOCOL,
  BinaryErrorCode,
  CloseCode,
  BinaryProtocolError,
  COMPRESSION_PARAM,
  DEFAULT_COMPRESSION_THRESHOLD,
  createOrderedDecoder,
  encodeFrame,
  encodeFrameAsync,
  fromV1,
  serializePayload,
  isWebDeflateAvailable,
  toV1,
  webDeflateCompressor,
  type AsyncCompressor,
  type ClientFrame,
  type Compressor,
} from '@herald/protocol';
import { HeraldError } from './errors.js';
import type { CompressionOption } from './options.js';
import { OPEN, type WebSocketLike } from './socket.js';
import type { Wire, WireFrame, WireHandlers, WireKind } from './wire.js';

/** Largest decompressed payload accepted from the server (a deflate bomb costs at most this). */
const MAX_DECOMPRESSED_BYTES = 16 * 1024 * 1024;


export function binaryWire(compression: CompressionOption): WireKind {
  const codec = compression === 'none' ? null : compression === 'auto' ? (isWebDeflateAvailable() ? webDeflateCompressor() : null) : compression;
  return {
    protocols: [BINARY_SUBPROTOCOL],
    // Absent means `none` to the server.
    query: { [COMPRESSION_PARAM]: codec?.name },
    create: (ws, handlers) => new BinaryWire(ws, handlers, codec),
  };
}

class BinaryWire implements Wire {
  readonly #ws: WebSocketLike;
  readonly #handlers: WireHandlers;
  /** The codec offered: decodes what the server compressed; compresses outgoing frames once negotiated. */
  readonly #codec: Compressor | AsyncCompressor | null;
  readonly #decode: ReturnType<typeof createOrderedDecoder>;
  /** What the welcome announced; null until the welcome has been read. */
  #negotiated: string | null = null;
  #threshold = DEFAULT_COMPRESSION_THRESHOLD;
  /** The last outgoing frame still being compressed: later frames queue behind it. */
  #sending: Promise<void> | null = null;
  #failed = false;

  constructor(ws: WebSocketLike, handlers: WireHandlers, codec: Compressor | AsyncCompressor | null) {
    this.#ws = ws;
    this.#handlers = handlers;
    this.#codec = codec;
    ws.binaryType = 'arraybuffer';
    this.#decode = createOrderedDecoder({
      sender: 'server',
      compressor: codec,
      maxPayloadBytes: BINARY_MAX_PAYLOAD,
      maxDecompressedBytes: MAX_DECOMPRESSED_BYTES,
    });
  }

  receive(data: unknown): void {
    if (this.#failed) return;
    if (!(data instanceof ArrayBuffer || data instanceof Uint8Array)) {
      this.#fail(new HeraldError('bad_frame', `a ${typeof data === 'string' ? 'text' : typeof data} frame on ${BINARY_SUBPROTOCOL}: only binary frames are allowed`, { closeCode: CloseCode.ProtocolError }));
      return;
    }
    // Settles in arrival order: a small frame never overtakes a big compressed one still inflating.
    this.#decode(data).then(
      (decoded) => {
        if (this.#failed) return;
        if (decoded.compression !== 'none' && this.#negotiated !== null && decoded.compression !== this.#negotiated) {
          this.#malformed(new BinaryProtocolError(BinaryErrorCode.BadCompression, `${decoded.compression} was not negotiated on this connection`));
          return;
        }
        const frame = toV1(decoded) as unknown as WireFrame;
        if (frame.type === 'welcome') {
          this.#negotiated = typeof frame['compression'] === 'string' ? frame['compression'] : 'none';
          const t = frame['compression_threshold'];
          if (typeof t === 'number' && t >= 0) this.#threshold = t;
        }
        this.#handlers.onFrame(frame);
      },
      (err: unknown) => {
        if (!this.#failed) this.#malformed(err);
      },
    );
  }

  #malformed(err: unknown): void {
    const detail = err instanceof BinaryProtocolError ? `(${err.code}): ${err.message}` : String(err);
    this.#fail(new HeraldError('bad_frame', `malformed v2 frame from the server ${detail}`, { closeCode: CloseCode.ProtocolError, cause: err }));
  }

  #fail(error: HeraldError): void {
    this.#failed = true;
    this.#handlers.onError(error, true);
  }

  send(frame: WireFrame): boolean {
    const ws = this.#ws;
    if (ws.readyState !== OPEN || this.#failed) return false;
    let type: ReturnType<typeof fromV1>['type'];
    let seq: number;
    let raw: Uint8Array | null;
    try {
      const parts = fromV1(frame as unknown as ClientFrame, 'client');
      type = parts.type;
      seq = parts.seq;
      raw = parts.payload === null ? null : serializePayload(type, parts.payload);
    } catch {
      return false; // a frame v2 cannot say (a caller bug): nothing is written
    }
    // Uncompressed until the welcome says which codec the server took.
    const codec = this.#codec !== null && this.#negotiated === this.#codec.name ? this.#codec : null;
    if (this.#sending === null && (codec === null || raw === null || raw.length < this.#threshold)) {
      // The common case stays synchronous, so e.g. the acks close() flushes go out before the close.
      try {
        ws.send(encodeFrame(type, raw, { seq }));
        return true;
      } catch {
        return false;
      }
    }
    // Compressing is asynchronous in browsers: frames sent meanwhile wait their turn, to keep the order.
    const previous = this.#sending ?? Promise.resolve();
    const job: Promise<void> = previous
      .then(() => encodeFrameAsync(type, raw, { seq, compressor: codec, threshold: this.#threshold }))
      .then((bytes) => {
        if (ws.readyState === OPEN && !this.#failed) ws.send(bytes);
      })
      .catch(() => undefined) // the socket went away meanwhile: as if it dropped right after the send
      .finally(() => {
        if (this.#sending === job) this.#sending = null;
      });
    this.#sending = job;
    return true;
  }
}
