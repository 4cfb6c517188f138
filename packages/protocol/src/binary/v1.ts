/**
 * Mapping between text-protocol v1 objects and binary v2 frames, so the server
 * can keep one internal frame model (the v1 types) and pick the wire encoding
 * per connection.
 *
 * The rule: the v1 `type` becomes the header frame type; the v1 `seq` of
 * message and ack frames becomes the header seq; every other field stays, as
 * is, in the JSON payload. ack, ping and pong have no payload at all.
 */
import type { ClientFrame, ServerFrame } from '../frames.js';
import { type DecodedFrame, type EncodeOptions, encodeFrame } from './codec.js';
import { type FrameTypeId, type FrameSender, BinaryFrameType, bytesFrameTypeForV1, frameTypeForV1 } from './frameTypes.js';

/** A v1 frame split into what `encodeFrame` takes. */
export interface V2Parts {
  type: FrameTypeId;
  /** Header seq: message/ack `seq` (0 when absent), 0 for every other type. */
  seq: number;
  /** The v1 object without `type` (and without `seq` for message/ack); null for ack, ping, pong. */
  payload: Record<string, unknown> | null;
}

/**
 * Splits a v1 frame. `sender` resolves v1's one ambiguity: `join`/`leave`
 * from the server are presence events, from the client they are requests.
 * Throws TypeError for a `type` the sender does not send.
 */
export function fromV1(frame: ServerFrame | ClientFrame, sender: FrameSender): V2Parts {
  const bytes = typeof (frame as { data_b64?: unknown }).data_b64 === 'string' ? bytesFrameTypeForV1(frame.type, sender) : undefined;
  const info = bytes ?? frameTypeForV1(frame.type, sender);
  if (!info) throw new TypeError(`no v2 frame for a v1 "${frame.type}" sent by the ${sender}`);
  const seqField = (frame as { seq?: unknown }).seq;
  const seq = info.headerSeq && seqField !== undefined ? (seqField as number) : 0;
  // Header seq 0 means "unreliable": a reliable message numbered 0 would silently lose its seq.
  if ((info.id === BinaryFrameType.Message || info.id === BinaryFrameType.MessageBytes) && seqField === 0) throw new RangeError('message seq 0 cannot be sent: reliable seqs start at 1');
  if (info.payload === 'empty') return { type: info.id, seq, payload: null };
  // Copy without the header-borne fields; a rest pattern keeps the field order.
  const { type: _type, ...rest } = frame as unknown as Record<string, unknown>;
  if (info.headerSeq) delete rest['seq'];
  return { type: info.id, seq, payload: rest };
}

/** Encodes a v1 frame as one v2 frame: `encodeFrame` of `fromV1`. */
export function encodeV1(frame: ServerFrame | ClientFrame, sender: FrameSender, options: Omit<EncodeOptions, 'seq'> = {}): Uint8Array {
  const parts = fromV1(frame, sender);
  return encodeFrame(parts.type, parts.payload, { ...options, seq: parts.seq });
}

/**
 * Rebuilds the v1 object of a decoded frame. The result has the v1 shape as
 * far as the codec can tell (type, seq, a JSON object payload); field-level
 * validation (is `room` a valid room name…) stays with the v1 validators.
 */
export function toV1(decoded: DecodedFrame): ServerFrame | ClientFrame {
  // Spread, not Object.assign: a JSON key "__proto__" must stay a plain property.
  const out: Record<string, unknown> = { type: decoded.info.v1, ...decoded.payload };
  if (decoded.type === BinaryFrameType.Ack || ((decoded.type === BinaryFrameType.Message || decoded.type === BinaryFrameType.MessageBytes) && decoded.seq > 0)) out['seq'] = decoded.seq;
  return out as unknown as ServerFrame | ClientFrame;
}
