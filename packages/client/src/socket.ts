/**
 * The WebSocket the client needs: the browser's, or `ws` in Node. Only the
 * handful of members both share are used, so neither needs an adapter.
 */

// Handler properties are declared through a method type so parameters compare
// bivariantly: that lets both the DOM WebSocket (MessageEvent, CloseEvent) and
// `ws` (its own event classes) be assigned to this interface.
type Handler<E> = { bivarianceHack(event: E): void }['bivarianceHack'];

export interface WebSocketLike {
  readonly readyState: number;
  /** Strings for the JSON protocol; bytes for the binary protocol. */
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
  onopen: Handler<unknown> | null;
  onmessage: Handler<{ data: unknown }> | null;
  onclose: Handler<{ code: number; reason: string }> | null;
  onerror: Handler<unknown> | null;
  /** Set to `arraybuffer` by the binary protocol (both the DOM and `ws` support it). */
  binaryType?: string;
}

/** The JSON protocol calls `new WebSocket(url)`; the binary one `new WebSocket(url, ['herald.v2.bin'])`. */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** readyState of an open socket (same value in the DOM and in `ws`). */
export const OPEN = 1;

export function defaultWebSocket(): WebSocketConstructor | undefined {
  return (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
}
