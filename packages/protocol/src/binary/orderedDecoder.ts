/**
 * In-order asynchronous decoding for browsers.
 *
 * `decodeFrameAsync` settles in its own time: an uncompressed frame decodes at
 * once while a compressed one waits on a DecompressionStream, so decoding
 * each WebSocket message independently would let a small frame overtake a
 * large one — and break Herald's in-order delivery. This decoder chains every
 * decode on the previous one, so results settle in arrival order.
 */
import { type AsyncDecodeOptions, type DecodedFrame, decodeFrameAsync } from './codec.js';

/** A decode function whose promises settle in call order (a failed frame does not stall the next). */
export type OrderedDecoder = (bytes: Uint8Array | ArrayBuffer) => Promise<DecodedFrame>;

export function createOrderedDecoder(options: AsyncDecodeOptions = {}): OrderedDecoder {
  let tail: Promise<unknown> = Promise.resolve();
  return (bytes) => {
    const result = tail.then(() => decodeFrameAsync(bytes, options));
    // The chain only orders; the caller handles (or ignores) each result's failure.
    tail = result.catch(() => undefined);
    return result;
  };
}
