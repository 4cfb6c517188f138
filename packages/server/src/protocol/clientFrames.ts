/**
 * Parses and validates client → server frames of protocol v1. Returns a typed
 * frame or a ProtocolViolation that the connection answers with an error frame
 * (recoverable) or close 4000 (not JSON at all).
 */
import { ErrorCode, ROOM_NAME_PATTERN, RPC_METHOD_PATTERN, isBase64, type ClientFrame, type ErrorCodeValue } from '@herald/protocol';
import { DEFAULT_MAX_JSON_DEPTH, jsonTextDepthExceeds, jsonValueDepthExceeds } from './jsonDepth.js';
import { ILL_FORMED, isWellFormedId } from './identifiers.js';

export class ProtocolViolation extends Error {
  constructor(
    readonly code: ErrorCodeValue,
    message: string,
    /** Echoed `id` of the offending frame, when it had one. */
    readonly id?: string,
    /** True when the frame could not be understood at all (close 4000). */
    readonly fatal = false,
  ) {
    super(message);
  }
}

const REQ_ID = /^[\x20-\x7e]{1,64}$/;

function isNonNegInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/**
 * `maxDepth` (config `maxJsonDepth`) bounds the nesting of the whole frame,
 * the frame object itself counting one: deeper `data` would overflow the
 * stack in JSON.stringify further on (a one-frame crash of the node).
 */
export function parseClientFrame(text: string, maxDepth = DEFAULT_MAX_JSON_DEPTH): ClientFrame {
  let raw: unknown;
  try {
    // JSON.parse itself is iterative in V8: deep text is parsed, then refused below.
    raw = JSON.parse(text);
  } catch {
    throw new ProtocolViolation(ErrorCode.BadFrame, 'frame is not valid JSON', undefined, true);
  }
  // The text scan allocates nothing; only a frame that fails it is walked to name the field.
  return jsonTextDepthExceeds(text, maxDepth) ? validateClientFrame(raw, maxDepth) : validateFields(raw);
}

const ACK_PREFIX = '{"type":"ack","seq":';

/**
 * The seq of a text that is exactly `{"type":"ack","seq":<digits>}` (JSON.stringify of an SDK
 * ack), else -1: the gateway reads the most frequent client frame (one per reliable message)
 * without JSON.parse, the depth scan, the field checks or a frame object (issue 20: a quarter of
 * the cost of an ack). Up to 15 digits (always a safe integer) and no leading zero (not JSON);
 * any other text, even an equivalent one (spaces, other key order), is -1 and goes through
 * parseClientFrame, which returns `{ type: 'ack', seq: plainAckSeq(text) }` for such a text.
 */
export function plainAckSeq(text: string): number {
  const end = text.length - 1;
  const digits = end - ACK_PREFIX.length;
  if (digits < 1 || digits > 15 || text.charCodeAt(end) !== 0x7d /* } */ || !text.startsWith(ACK_PREFIX)) return -1;
  if (digits > 1 && text.charCodeAt(ACK_PREFIX.length) === 0x30 /* 0 */) return -1;
  let seq = 0;
  for (let i = ACK_PREFIX.length; i < end; i++) {
    const d = text.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return -1;
    seq = seq * 10 + d;
  }
  return seq;
}

const ACK_PREFIX_BYTES = Uint8Array.from(ACK_PREFIX, (ch) => ch.charCodeAt(0));

/**
 * `plainAckSeq` of a text frame's UTF-8 bytes, read before they are decoded: the gateway's ack
 * path without `toString()` (a C++ call and a string per ack, issue 20). The shape is ASCII, so
 * its bytes and its UTF-16 units are the same codes one for one, and any other byte (a multi-byte
 * sequence, valid or not) fails a comparison: -1 exactly where `plainAckSeq(bytes.toString())` is -1,
 * else the same seq.
 */
export function plainAckSeqOf(bytes: Uint8Array): number {
  const end = bytes.length - 1;
  const start = ACK_PREFIX_BYTES.length;
  const digits = end - start;
  if (digits < 1 || digits > 15 || bytes[end] !== 0x7d /* } */) return -1;
  for (let i = 0; i < start; i++) if (bytes[i] !== ACK_PREFIX_BYTES[i]) return -1;
  if (digits > 1 && bytes[start] === 0x30 /* 0 */) return -1;
  let seq = 0;
  for (let i = start; i < end; i++) {
    const d = bytes[i]! - 0x30;
    if (d < 0 || d > 9) return -1;
    seq = seq * 10 + d;
  }
  return seq;
}

/**
 * Validates a decoded client frame object: the JSON of a v1 text frame, or
 * `toV1()` of a v2 binary frame — one validator for both protocols. Nesting
 * deeper than `maxDepth` (the frame object counting one) is refused.
 */
export function validateClientFrame(raw: unknown, maxDepth = DEFAULT_MAX_JSON_DEPTH): ClientFrame {
  return validateFields(raw, maxDepth);
}

/** The field validator; `maxDepth` undefined: the depth is known to be within the bound. */
function validateFields(raw: unknown, maxDepth?: number): ClientFrame {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ProtocolViolation(ErrorCode.BadFrame, 'frame must be a JSON object', undefined, true);
  }
  const f = raw as Record<string, unknown>;
  let id: string | undefined;
  if (f.id !== undefined) {
    if (typeof f.id !== 'string' || !REQ_ID.test(f.id)) throw new ProtocolViolation(ErrorCode.BadField, 'field "id" must be a string of 1-64 printable characters');
    id = f.id;
  }
  if (maxDepth !== undefined) checkDepth(f, maxDepth, id);
  const bad = (field: string, why: string): never => {
    throw new ProtocolViolation(field === 'seq' ? ErrorCode.BadAck : field === 'after' ? ErrorCode.BadSync : ErrorCode.BadField, `field "${field}" ${why}`, id);
  };
  const room = (): string => {
    if (typeof f.room !== 'string' || !ROOM_NAME_PATTERN.test(f.room)) bad('room', 'must be 1-128 of [A-Za-z0-9._:@/-]');
    return f.room as string;
  };
  switch (f.type) {
    case 'ping':
      return { type: 'ping' };
    case 'ack':
      if (!isNonNegInt(f.seq)) bad('seq', 'must be a non-negative integer');
      return { type: 'ack', seq: f.seq as number };
    case 'sync':
      if (!isNonNegInt(f.after)) bad('after', 'must be a non-negative integer');
      return { type: 'sync', after: f.after as number, ...(id ? { id } : {}) };
    case 'join': {
      const r = room();
      if (f.since === undefined) return { type: 'join', room: r, ...(id ? { id } : {}) };
      const s = f.since as { offset?: unknown; epoch?: unknown } | null;
      if (s === null || typeof s !== 'object' || Array.isArray(s) || !isNonNegInt(s.offset) || typeof s.epoch !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(s.epoch) || Object.keys(s).length !== 2) {
        bad('since', 'must be {"offset": non-negative integer, "epoch": string of 1-64 [A-Za-z0-9_-]}');
      }
      return { type: 'join', room: r, since: { offset: s!.offset as number, epoch: s!.epoch as string }, ...(id ? { id } : {}) };
    }
    case 'leave':
    case 'presence':
      return { type: f.type, room: room(), ...(id ? { id } : {}) };
    case 'history': {
      const r = room();
      if (f.limit !== undefined && (!isNonNegInt(f.limit) || f.limit < 1)) bad('limit', 'must be a positive integer');
      return { type: 'history', room: r, ...(f.limit !== undefined ? { limit: f.limit as number } : {}), ...(id ? { id } : {}) };
    }
    case 'state': {
      const r = room();
      if (!('data' in f)) bad('data', 'is required (null clears the state)');
      return { type: 'state', room: r, data: f.data, ...(id ? { id } : {}) };
    }
    case 'publish': {
      const r = room();
      const b64 = f.data_b64;
      if (b64 !== undefined) {
        if ('data' in f) bad('data_b64', 'cannot be given with "data"');
        if (typeof b64 !== 'string' || !isBase64(b64)) bad('data_b64', 'must be standard base64 (A-Z a-z 0-9 + /, optional = padding, no whitespace)');
      } else if (!('data' in f)) bad('data', 'is required (or data_b64)');
      if (f.event !== undefined && (typeof f.event !== 'string' || f.event.length > 128)) bad('event', 'must be a string of at most 128 characters');
      if (typeof f.event === 'string' && !isWellFormedId(f.event)) bad('event', ILL_FORMED);
      return { type: 'publish', room: r, ...(b64 !== undefined ? { data_b64: b64 as string } : { data: f.data }), ...(f.event !== undefined ? { event: f.event as string } : {}), ...(id ? { id } : {}) };
    }
    case 'rpc':
      // The reply is matched by id: an rpc without one could never be answered.
      if (id === undefined) bad('id', 'is required on rpc frames');
      if (typeof f.method !== 'string' || !RPC_METHOD_PATTERN.test(f.method)) bad('method', 'must be 1-128 of [A-Za-z0-9._:/-]');
      return { type: 'rpc', id: id as string, method: f.method as string, ...('data' in f ? { data: f.data } : {}) };
    case 'auth':
      if (typeof f.token !== 'string') bad('token', 'must be a string');
      return { type: 'auth', token: f.token as string, ...(id ? { id } : {}) };
    default:
      throw new ProtocolViolation(ErrorCode.UnknownType, typeof f.type === 'string' ? `unknown frame type "${f.type.slice(0, 32)}"` : 'field "type" is required', id);
  }
}

/**
 * Refuses a frame nesting deeper than `maxDepth`, naming the top-level field
 * that does (in practice `data`: every other field is a scalar). Recoverable:
 * an error frame, the connection stays.
 */
function checkDepth(f: Record<string, unknown>, maxDepth: number, id: string | undefined): void {
  for (const key of Object.keys(f)) {
    if (!jsonValueDepthExceeds(f[key], maxDepth - 1)) continue;
    const name = /^[A-Za-z0-9_]{1,32}$/.test(key) ? key : 'frame';
    throw new ProtocolViolation(ErrorCode.BadField, `field "${name}" nests arrays/objects deeper than ${maxDepth} levels (the frame counts one)`, id);
  }
}
