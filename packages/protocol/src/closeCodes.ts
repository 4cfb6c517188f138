/**
 * The one registry of WebSocket close codes Herald uses (DESIGN.md §1, FIXED).
 * Server and client both read it; docs/protocol.md lists the same table and a
 * test checks the two agree.
 */
export const CloseCode = {
  /** Normal closure: the client should stop. */
  Normal: 1000,
  /** Server going away (shutdown, drain): reconnect with jitter. */
  GoingAway: 1001,
  /** A frame exceeded the size limit: fix the sender. */
  MessageTooBig: 1009,
  /** The server failed unexpectedly while handling this connection's frame: reconnect. */
  InternalError: 1011,
  /** Malformed frame or protocol violation: fix the client. */
  ProtocolError: 4000,
  /** Token missing, invalid or expired: get a new token. */
  Unauthorized: 4001,
  /** Forbidden (room not allowed, device mismatch): stop. */
  Forbidden: 4003,
  /** The same user+device connected elsewhere: stop. */
  Replaced: 4004,
  /** Connection limit reached (per user / node): back off. */
  ConnectionLimit: 4005,
  /** Rate limited: back off. */
  RateLimited: 4008,
  /** Outbound buffer over its limit: reconnect and resync. */
  SlowConsumer: 4009,
  /** No heartbeat within the deadline: reconnect. */
  HeartbeatTimeout: 4010,
  /** Disconnected through the server API: per reason. */
  ServerDisconnect: 4011,
  /** A reliable message was not acked after every retry: reconnect and resync. */
  AckTimeout: 4012,
} as const;

export type CloseCodeName = keyof typeof CloseCode;
export type CloseCodeValue = (typeof CloseCode)[CloseCodeName];

/** What a client should do after a close code. */
export type CloseAdvice = 'stop' | 'reconnect' | 'refresh-token' | 'back-off';

export interface CloseCodeInfo {
  code: CloseCodeValue;
  name: CloseCodeName;
  meaning: string;
  advice: CloseAdvice;
}

export const CLOSE_CODES: readonly CloseCodeInfo[] = [
  { code: 1000, name: 'Normal', meaning: 'normal', advice: 'stop' },
  { code: 1001, name: 'GoingAway', meaning: 'server going away (shutdown, drain)', advice: 'reconnect' },
  { code: 1009, name: 'MessageTooBig', meaning: 'message too big', advice: 'stop' },
  { code: 1011, name: 'InternalError', meaning: 'internal error: the server failed handling a frame', advice: 'reconnect' },
  { code: 4000, name: 'ProtocolError', meaning: 'malformed frame / protocol violation', advice: 'stop' },
  { code: 4001, name: 'Unauthorized', meaning: 'unauthorized: token missing, invalid or expired', advice: 'refresh-token' },
  { code: 4003, name: 'Forbidden', meaning: 'forbidden (e.g. room not allowed, device mismatch)', advice: 'stop' },
  { code: 4004, name: 'Replaced', meaning: 'replaced: the same user+device connected elsewhere', advice: 'stop' },
  { code: 4005, name: 'ConnectionLimit', meaning: 'connection limit reached (per user / node)', advice: 'back-off' },
  { code: 4008, name: 'RateLimited', meaning: 'rate limited', advice: 'back-off' },
  { code: 4009, name: 'SlowConsumer', meaning: 'slow consumer: outbound buffer over its limit', advice: 'reconnect' },
  { code: 4010, name: 'HeartbeatTimeout', meaning: 'heartbeat timeout', advice: 'reconnect' },
  { code: 4011, name: 'ServerDisconnect', meaning: 'disconnected by the server API', advice: 'reconnect' },
  { code: 4012, name: 'AckTimeout', meaning: 'ack timeout: retries exhausted', advice: 'reconnect' },
];

/** Codes after which a client must not reconnect on its own. */
export const TERMINAL_CLOSE_CODES: ReadonlySet<number> = new Set([1000, 1009, 4000, 4003, 4004]);

export function closeCodeInfo(code: number): CloseCodeInfo | undefined {
  return CLOSE_CODES.find((c) => c.code === code);
}
