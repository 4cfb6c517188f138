/**
 * The Redis inbox entry format, in one place beside the Lua scripts that
 * write it (scripts.ts). The inbox is a Stream whose entry ids are `<seq>-0`;
 * each entry's fields have one-letter names, stored per entry:
 *   i = message id, t = ts (ms), d = data (JSON text),
 *   v = device (device-targeted), e = event, x = expiresAt (ms),
 *   z = compression of d (deflate | zstd; absent: d is plain JSON text —
 *       every entry written before compression existed reads as before)
 *   p = platform (platform-targeted), b = '1' when data is the base64 of bytes
 * The `inbox` bus event is assembled by the append script around the seq,
 * which only the script knows: `inboxEventParts` builds the text before and
 * after it.
 */
import type { InboxMessage, NewInboxMessage } from '../types.js';
import { decodePayload } from '../payloadCodec.js';

/** A stream entry as ioredis returns it: [id, [field, value, …]]. */
export type StreamEntry = [id: string, fields: string[]];

/** The stored message of a stream entry. */
export function toMessage(entry: StreamEntry): InboxMessage {
  const [id, f] = entry;
  const m: InboxMessage = { seq: parseInt(id, 10), id: '', ts: 0, data: 'null' };
  let z: string | undefined;
  for (let i = 0; i + 1 < f.length; i += 2) {
    const v = f[i + 1]!;
    switch (f[i]) {
      case 'i':
        m.id = v;
        break;
      case 't':
        m.ts = Number(v);
        break;
      case 'd':
        m.data = v;
        break;
      case 'v':
        m.device = v;
        break;
      case 'e':
        m.event = v;
        break;
      case 'x':
        m.expiresAt = Number(v);
        break;
      case 'z':
        z = v;
        break;
      case 'p':
        m.platform = v;
        break;
      case 'b':
        m.binary = true;
        break;
    }
  }
  if (z !== undefined) m.data = decodePayload(m.data, z);
  return m;
}

/**
 * The published `inbox` event, `<echo prefix>{…"message":{"seq":` + seq + `…}}`, split
 * around the seq. InboxMessage.data is JSON *text*: it travels as a string, as it is stored.
 */
export function inboxEventParts(echoPrefix: string, tenant: string, user: string, message: NewInboxMessage): { head: string; tail: string } {
  const head = `${echoPrefix}{"kind":"inbox","tenant":${JSON.stringify(tenant)},"user":${JSON.stringify(user)},"message":{"seq":`;
  let tail = `,"id":${JSON.stringify(message.id)},"ts":${message.ts}`;
  if (message.device !== undefined) tail += `,"device":${JSON.stringify(message.device)}`;
  if (message.event !== undefined) tail += `,"event":${JSON.stringify(message.event)}`;
  tail += `,"data":${JSON.stringify(message.data)}`;
  if (message.expiresAt !== undefined) tail += `,"expiresAt":${message.expiresAt}`;
  if (message.platform !== undefined) tail += `,"platform":${JSON.stringify(message.platform)}`;
  if (message.binary) tail += ',"binary":true';
  return { head, tail: tail + '}}' };
}
