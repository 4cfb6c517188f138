/**
 * Builds server → client frames. Message frames are assembled from
 * already-serialized parts (the `data` JSON text is serialized once, at
 * publish), so a fan-out never re-serializes per recipient.
 */
import type { InboxMessage } from '../engine/types.js';
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

/**
 * `JSON.stringify(s)` for a string, with the common case — an id or a name of plain ASCII, such
 * as a message id — quoted directly (JSON.stringify is a runtime call: ≈ 10× the cost here).
 * Plain: printable ASCII but `"` and `\`, which JSON writes as is. Checked by a loop rather than a
 * regex: for ids of a few dozen characters the regex's call into the RegExp builtins cost more
 * than the loop (≈ 1,900 instructions a test under callgrind, issue 20).
 */
export function jsonString(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 /* " */ || c === 0x5c /* \ */) return JSON.stringify(s);
  }
  return '"' + s + '"';
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

export function welcomeFrame(w: Omit<WelcomeFrame, 'type'>): string {
  return JSON.stringify({ type: 'welcome', ...w });
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
