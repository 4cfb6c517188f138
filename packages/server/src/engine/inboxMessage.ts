/** Building stored inbox messages (both engines) so that they share V8 hidden classes. */
import type { InboxMessage, NewInboxMessage } from './types.js';

/**
 * `msg` with its seq (and `data`), built field by field in one order: every message with the same
 * optional fields shares one hidden class. `{ ...msg, seq }` made a new one per message (V8 11,
 * Node 20), so each later read of a stored message (the stream's checks, the frame encoding) missed
 * its inline cache: some 10 runtime lookups per reliable message (issue 20).
 */
export function withSeq(msg: NewInboxMessage, seq: number, data = msg.data): InboxMessage {
  const m: InboxMessage = { id: msg.id, ts: msg.ts, data, seq };
  if (msg.binary !== undefined) m.binary = msg.binary;
  if (msg.event !== undefined) m.event = msg.event;
  if (msg.expiresAt !== undefined) m.expiresAt = msg.expiresAt;
  if (msg.device !== undefined) m.device = msg.device;
  if (msg.platform !== undefined) m.platform = msg.platform;
  return m;
}
