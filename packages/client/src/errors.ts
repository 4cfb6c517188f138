/**
 * Every error the SDK produces is a HeraldError with a stable `code`, so apps
 * branch on `err.code` instead of parsing messages.
 */

export type HeraldErrorCode =
  /** A request got no reply within its timeout. */
  | 'timeout'
  /** The connection dropped after a non-idempotent request was sent; it may or may not have been applied. */
  | 'disconnected'
  /** The client was closed (by `close()` or a terminal close code) before the operation finished. */
  | 'closed'
  /** The server answered a request with an `error` frame; see `serverCode`. */
  | 'server'
  /** The server refused the token (close 4001) and no fresh token could be obtained. */
  | 'unauthorized'
  /** The server closed with a code after which the client must not reconnect (see `closeCode`). */
  | 'terminal'
  /** `maxReconnectAttempts` was exhausted. */
  | 'reconnect_failed'
  /** The token provider threw or returned something that is not a non-empty string. */
  | 'token_provider'
  /** The last-seq store threw. Delivery continues; resume may replay more than needed. */
  | 'storage'
  /** A frame from the server could not be parsed. */
  | 'bad_frame'
  /** An event listener threw; the SDK caught it so delivery goes on. */
  | 'listener'
  /** A bad option or argument was passed to the SDK. */
  | 'invalid_argument'
  /** No WebSocket implementation: pass `WebSocket` (e.g. from `ws`) in the options. */
  | 'no_websocket';

export class HeraldError extends Error {
  override readonly name = 'HeraldError';
  readonly code: HeraldErrorCode;
  /** The WebSocket close code involved, when there is one. */
  readonly closeCode: number | undefined;
  /** The server's error code (`error` frame `code`, e.g. `room_forbidden`), when there is one. */
  readonly serverCode: string | undefined;

  constructor(
    code: HeraldErrorCode,
    message: string,
    extra: { closeCode?: number; serverCode?: string; cause?: unknown } = {},
  ) {
    super(message, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.code = code;
    this.closeCode = extra.closeCode;
    this.serverCode = extra.serverCode;
  }
}

export function isHeraldError(value: unknown): value is HeraldError {
  return value instanceof HeraldError;
}
