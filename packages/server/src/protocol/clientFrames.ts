/**
 * Parses and validates client → server frames of protocol v1. Returns a typed
 * frame or a ProtocolViolation that the connection answers with an error frame
 * (recoverable) or close 4000 (not JSON at all).
 */
import { ErrorCode, ROOM_NAME_PATTERN, type ClientFrame, type ErrorCodeValue } from '@herald/protocol';
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

export function parseClientFrame(text: string): ClientFrame {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new ProtocolViolation(ErrorCode.BadFrame, 'frame is not valid JSON', undefined, true);
  }
  return validateClientFrame(raw);
}

/**
 * Validates a decoded client frame object: the JSON of a v1 text frame, or
 * `toV1()` of a v2 binary frame — one validator for both protocols.
 */
export function validateClientFrame(raw: unknown): ClientFrame {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ProtocolViolation(ErrorCode.BadFrame, 'frame must be a JSON object', undefined, true);
  }
  const f = raw as Record<string, unknown>;
  let id: string | undefined;
  if (f.id !== undefined) {
    if (typeof f.id !== 'string' || !REQ_ID.test(f.id)) throw new ProtocolViolation(ErrorCode.BadField, 'field "id" must be a string of 1-64 printable characters');
    id = f.id;
  }
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
    case 'join':
    case 'leave':
    case 'presence':
      return { type: f.type, room: room(), ...(id ? { id } : {}) };
    case 'publish': {
      const r = room();
      if (!('data' in f)) bad('data', 'is required');
      if (f.event !== undefined && (typeof f.event !== 'string' || f.event.length > 128)) bad('event', 'must be a string of at most 128 characters');
      if (typeof f.event === 'string' && !isWellFormedId(f.event)) bad('event', ILL_FORMED);
      return { type: 'publish', room: r, data: f.data, ...(f.event !== undefined ? { event: f.event as string } : {}), ...(id ? { id } : {}) };
    }
    case 'auth':
      if (typeof f.token !== 'string') bad('token', 'must be a string');
      return { type: 'auth', token: f.token as string, ...(id ? { id } : {}) };
    default:
      throw new ProtocolViolation(ErrorCode.UnknownType, typeof f.type === 'string' ? `unknown frame type "${f.type.slice(0, 32)}"` : 'field "type" is required', id);
  }
}
