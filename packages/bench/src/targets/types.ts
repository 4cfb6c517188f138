/**
 * What differs between targets on the client side: the URL to connect to and
 * the framing of a few frames. Everything else (sockets, timing, counting,
 * the HTTP publisher) is the same code path for every target, so the
 * comparison measures the servers, not three different clients.
 */
export type TargetKind = 'raw' | 'socketio' | 'herald';
export const TARGET_KINDS: readonly TargetKind[] = ['raw', 'socketio', 'herald'];

export type Inbound =
  /** Authenticated; the connection may join rooms and receive messages. */
  | { kind: 'ready'; heartbeatMs?: number }
  /** Answer to a join (by request id). */
  | { kind: 'reply'; id: string; ok: boolean; error?: string }
  /** A delivery; `seq` for reliable messages that must be acked. */
  | { kind: 'message'; data: unknown; seq?: number }
  /** Authentication refused or server-side protocol error without a request id. */
  | { kind: 'rejected'; reason: string }
  | { kind: 'none' };

export interface ClientProtocol {
  readonly kind: TargetKind;
  /** WebSocket URL for one connection (`httpBase` is e.g. http://127.0.0.1:8080). */
  url(httpBase: string, user: string, device: string, token: string): string;
  /**
   * Interprets one text frame. `send` answers protocol-level frames (Engine.IO
   * open/ping) on the same connection.
   */
  decode(text: string, send: (frame: string) => void, token: string): Inbound;
  /** Frame that joins `room`, answered by a reply with `id`. */
  join(room: string, id: string): string;
  /** How deliveries are recognised by the fast path (see peek.ts). */
  readonly peekKind: 'json' | 'socketio';
  /** Cumulative ack for reliable deliveries (only Herald has them). */
  ack?(seq: number): string;
}

/** Data shape every publisher puts in a message, read back by clients. */
export interface BenchPayload {
  /** Publish time, µs on the shared monotonic clock. */
  t: number;
  /** Message index within the run. */
  k: number;
  /** Room index for broadcasts (-1 for unicast). */
  r: number;
  /** Padding to reach the requested payload size. */
  p?: string;
}

export function isBenchPayload(v: unknown): v is BenchPayload {
  return typeof v === 'object' && v !== null && typeof (v as BenchPayload).t === 'number' && typeof (v as BenchPayload).k === 'number';
}

export function wsBase(httpBase: string): string {
  return httpBase.replace(/^http/, 'ws').replace(/\/+$/, '');
}
