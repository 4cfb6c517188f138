/**
 * Decoder for Herald's text protocol v1 frames. The raw ws bench server
 * speaks the same subset (welcome, reply, error, message), so the raw ceiling
 * and Herald cost the client exactly the same parsing work.
 */
import type { Inbound } from './types.js';

interface Frame {
  type?: unknown;
  id?: unknown;
  ok?: unknown;
  code?: unknown;
  message?: unknown;
  data?: unknown;
  seq?: unknown;
  heartbeat_ms?: unknown;
}

export function decodeJsonFrame(text: string): Inbound {
  if (text === 'pong') return { kind: 'none' };
  let f: Frame;
  try {
    f = JSON.parse(text) as Frame;
  } catch {
    return { kind: 'rejected', reason: 'malformed_frame' };
  }
  switch (f.type) {
    case 'message':
      return typeof f.seq === 'number' ? { kind: 'message', data: f.data, seq: f.seq } : { kind: 'message', data: f.data };
    case 'welcome':
      return typeof f.heartbeat_ms === 'number' ? { kind: 'ready', heartbeatMs: f.heartbeat_ms } : { kind: 'ready' };
    case 'reply':
      return { kind: 'reply', id: String(f.id), ok: f.ok === true };
    case 'error':
      if (f.id !== undefined) return { kind: 'reply', id: String(f.id), ok: false, error: String(f.code) };
      return { kind: 'rejected', reason: `error_${String(f.code)}` };
    default:
      // presence events, pongs: nothing to count
      return { kind: 'none' };
  }
}

export function joinFrame(room: string, id: string): string {
  return JSON.stringify({ type: 'join', room, id });
}
