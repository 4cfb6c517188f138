/**
 * Builds server → client frames. Message frames are assembled from
 * already-serialized parts (the `data` JSON text is serialized once, at
 * publish), so a fan-out never re-serializes per recipient.
 */
import type { InboxMessage } from '../engine/types.js';
import { lastMessageId } from '../delivery/messageId.js';
import type { ErrorFrame, PresenceEventFrame, WelcomeFrame } from '@herald/protocol';

export interface EphemeralMessage {
  id: string;
  ts: number;
  event?: string;
  room?: string;
  from?: string;
  /** JSON text of data; with `binary`, the JSON string of the bytes' base64. */
  data: string;
  /** Binary payload: delivered as `data_b64` (v1) or raw bytes (v2). */
  binary?: boolean;
}

/** Printable ASCII but `"` and `\`: a string JSON writes as is, between quotes. */
const PLAIN_JSON_STRING = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/**
 * `JSON.stringify(s)` for a string, with the common case — an id or a name of plain ASCII, such
 * as a message id — quoted directly (JSON.stringify is a runtime call: ≈ 10× the cost here).
 * A regex, not a charCodeAt loop: `randomUUID()` returns a concatenated (cons) string, which the
 * regex flattens once and a loop reads through the cons per character — the loop measured
 * 3,600 instructions per publish under callgrind and ~1.3× the time natively (issue 20).
 * The id just made by delivery/messageId.ts (plain by construction) is quoted without the test: a
 * publish quotes it in its frame and its reply (the regex ≈ 1,000 instructions a call, issue 20).
 */
export function jsonString(s: string): string {
  return s === lastMessageId || PLAIN_JSON_STRING.test(s) ? '"' + s + '"' : JSON.stringify(s);
}

export function messageFrame(m: EphemeralMessage): string {
  let s = '{"type":"message","id":' + jsonString(m.id);
  if (m.event !== undefined) s += ',"event":' + jsonString(m.event);
  if (m.room !== undefined) s += ',"room":' + jsonString(m.room);
  if (m.from !== undefined) s += ',"from":' + jsonString(m.from);
  return s + (m.binary ? ',"data_b64":' : ',"data":') + m.data + ',"ts":' + m.ts + '}';
}

/**
 * A room batch (config `roomBatchWindowMs`): message frames already built,
 * oldest first, joined without re-serializing them.
 */
export function batchFrame(messages: readonly string[]): string {
  return '{"type":"batch","messages":[' + messages.join(',') + ']}';
}

export function reliableFrame(m: InboxMessage): string {
  let s = '{"type":"message","id":' + jsonString(m.id) + ',"seq":' + m.seq;
  if (m.event !== undefined) s += ',"event":' + jsonString(m.event);
  return s + (m.binary ? ',"data_b64":' : ',"data":') + m.data + ',"ts":' + m.ts + '}';
}

/** The welcome's fields in the order the activation writes them (gateway/activation.ts). */
const WELCOME_KEYS = ['conn', 'node', 'user', 'tenant', 'device', 'heartbeat_ms', 'last_seq', 'recovered'] as const;

/**
 * `JSON.stringify({ type: 'welcome', ...w })`, byte for byte. The usual v1 welcome — exactly the
 * fields above, in that order, its strings plain (PLAIN_JSON_STRING), its numbers finite — is written
 * by hand with the quotes in the literals: the spread copy and the generic serializer were ~6,800
 * instructions per connect (issue 20, `--case connect`), and fewer string pieces than quoting each
 * value separately (~690 B per welcome against 750 for JSON.stringify, 980 quoting each). Any other
 * shape or value (v2's extra fields, names to escape) goes through JSON.stringify.
 */
export function welcomeFrame(w: Omit<WelcomeFrame, 'type'>): string {
  const keys = Object.keys(w);
  let plain = keys.length === WELCOME_KEYS.length && Number.isFinite(w.heartbeat_ms) && Number.isFinite(w.last_seq) && typeof w.recovered === 'boolean';
  for (let i = 0; plain && i < keys.length; i++) plain = keys[i] === WELCOME_KEYS[i];
  if (!plain || !plainString(w.conn) || !plainString(w.node) || !plainString(w.user) || !plainString(w.tenant) || !plainString(w.device)) {
    return JSON.stringify({ type: 'welcome', ...w });
  }
  return (
    '{"type":"welcome","conn":"' +
    w.conn +
    '","node":"' +
    w.node +
    '","user":"' +
    w.user +
    '","tenant":"' +
    w.tenant +
    '","device":"' +
    w.device +
    '","heartbeat_ms":' +
    w.heartbeat_ms +
    ',"last_seq":' +
    w.last_seq +
    ',"recovered":' +
    w.recovered +
    '}'
  );
}

/** A string JSON writes as is between quotes (and a string at all). */
function plainString(v: unknown): boolean {
  return typeof v === 'string' && PLAIN_JSON_STRING.test(v);
}

export function errorFrame(code: string, message: string, id?: string): string {
  const f: ErrorFrame = id !== undefined ? { type: 'error', id, code, message } : { type: 'error', code, message };
  return JSON.stringify(f);
}

export function replyFrame(id: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ type: 'reply', id, ok: true, ...extra });
}

export function presenceEventFrame(f: PresenceEventFrame): string {
  return JSON.stringify(f);
}

export const PONG_FRAME = '{"type":"pong"}';
