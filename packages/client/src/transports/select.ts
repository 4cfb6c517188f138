/**
 * Which transports a client uses (`transports`, default `['websocket']`):
 * WebSocket only, SSE only, or WebSocket with a fallback to SSE
 * (fallback.ts). SSE carries the JSON protocol only.
 */
import { HeraldError } from '../errors.js';
import type { WebSocketConstructor } from '../socket.js';
import type { EventSourceConstructor, FetchLike } from './eventStream.js';
import { fallbackConstructor, type TransportName } from './fallback.js';
import { sseSocketConstructor } from './sseSocket.js';

export type { TransportName } from './fallback.js';

export interface TransportOptions {
  /**
   * Transports in order of preference: `['websocket']` (default), `['websocket', 'sse']`
   * (fall back to Server-Sent Events when WebSockets fail, probe WebSocket again later),
   * or `['sse']`.
   */
  transports?: TransportName[];
  /** With the fallback: WebSocket attempts in a row that fail before the welcome before SSE is used (default 2). */
  sseAfterFailures?: number;
  /** With the fallback: while on SSE, how often to check whether WebSocket works again, ms (default 60 000; 0: never). */
  webSocketProbeMs?: number;
  /** The EventSource for SSE (default: the browser's); `null` forces the fetch-based reader. */
  EventSource?: EventSourceConstructor | null;
  /** fetch for SSE (default: globalThis.fetch). */
  fetch?: FetchLike;
}

export function transportConstructor(
  o: TransportOptions,
  ws: WebSocketConstructor | undefined,
  protocol: string,
): { ctor: WebSocketConstructor | undefined; status: { current: TransportName; failures: number } } {
  const list = o.transports ?? ['websocket'];
  if (!Array.isArray(list) || list.length === 0 || list.some((t) => t !== 'websocket' && t !== 'sse') || new Set(list).size !== list.length) {
    throw new HeraldError('invalid_argument', "transports must list 'websocket' and/or 'sse', each once");
  }
  const status = { current: list[0]!, failures: 0 };
  if (!list.includes('sse')) return { ctor: ws, status };
  if (protocol !== 'json') throw new HeraldError('invalid_argument', "the 'sse' transport carries the JSON protocol only");
  const sse = sseSocketConstructor({ ...(o.fetch ? { fetch: o.fetch } : {}), ...(o.EventSource !== undefined ? { EventSource: o.EventSource } : {}) });
  if (list.length === 1 || !ws) return { ctor: sse, status: { current: 'sse', failures: 0 } };
  const after = o.sseAfterFailures ?? 2;
  const probe = o.webSocketProbeMs ?? 60_000;
  if (!Number.isInteger(after) || after < 1) throw new HeraldError('invalid_argument', 'sseAfterFailures must be an integer ≥ 1');
  if (typeof probe !== 'number' || probe < 0) throw new HeraldError('invalid_argument', 'webSocketProbeMs must be a number ≥ 0');
  // 'sse' first means: start on SSE, still probe for WebSocket.
  return { ctor: fallbackConstructor(ws, sse, { sseAfterFailures: after, probeMs: probe }, status), status };
}
