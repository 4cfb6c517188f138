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
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: Handler<unknown> | null;
  onmessage: Handler<{ data: unknown }> | null;
  onclose: Handler<{ code: number; reason: string }> | null;
  onerror: Handler<unknown> | null;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** readyState of an open socket (same value in the DOM and in `ws`). */
export const OPEN = 1;

export function defaultWebSocket(): WebSocketConstructor | undefined {
  return (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
}
