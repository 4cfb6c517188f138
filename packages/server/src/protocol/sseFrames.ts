/**
 * Server-Sent Events framing (DESIGN.md §10): a v1 server frame becomes one
 * event whose name is the frame's type (`welcome`, `message`, `reply`,
 * `error`, `join`, `leave`, …) and whose `data` is the frame's JSON text;
 * reliable messages carry `id: <seq>` so a browser's EventSource resumes with
 * `Last-Event-ID`. Frame text is one line (JSON.stringify escapes newlines),
 * so one `data:` line always holds it.
 */

/** A comment line: keeps proxies and the reader's idle timers from closing a quiet stream. */
export const SSE_HEARTBEAT = ': hb\n\n';

/** An event with an explicit name, data and optional id. */
export function sseEvent(name: string, data: string, id?: number): string {
  return (id !== undefined ? 'id: ' + id + '\n' : '') + 'event: ' + name + '\ndata: ' + data + '\n\n';
}

const TYPE_PREFIX = '{"type":"';

/**
 * The event for a v1 frame text. Every server frame starts with its `type` (see serverFrames.ts),
 * so the name is read from the prefix without parsing; a reliable message's seq comes from the caller.
 */
export function sseEventOfText(text: string, seq?: number): string {
  let name = 'message';
  if (text.startsWith(TYPE_PREFIX)) {
    const end = text.indexOf('"', TYPE_PREFIX.length);
    if (end > 0) name = text.slice(TYPE_PREFIX.length, end);
  }
  return sseEvent(name, text, seq);
}

/** The last event of a stream the server ends: the close code and reason, as a WebSocket client would see them. */
export function sseCloseEvent(code: number, reason: string): string {
  return sseEvent('close', JSON.stringify({ code, reason }));
}
