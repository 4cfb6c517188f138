/**
 * The one registry of WebSocket close codes Herald uses (DESIGN.md §1, FIXED):
 * one table with each code's name, meaning and the client's advice. The
 * `CloseCode` names, the terminal set and the lookups are derived from it.
 * Server and SDK both read it; docs/protocol.md and docs/client.md list the
 * same codes and tests check they agree.
 */

/** What a client should do after a close code. */
export type CloseAdvice = 'stop' | 'reconnect' | 'refresh-token' | 'back-off';

const TABLE = [
  { code: 1000, name: 'Normal', meaning: 'normal', advice: 'stop' },
  { code: 1001, name: 'GoingAway', meaning: 'server going away (shutdown, drain)', advice: 'reconnect' },
  { code: 1009, name: 'MessageTooBig', meaning: 'message too big', advice: 'stop' },
  { code: 1011, name: 'InternalError', meaning: 'internal error: the server failed handling a frame', advice: 'reconnect' },
  { code: 1013, name: 'TryAgainLater', meaning: 'try again later: engine or hook unavailable', advice: 'back-off' },
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
] as const satisfies readonly { code: number; name: string; meaning: string; advice: CloseAdvice }[];

type Row = (typeof TABLE)[number];

/** Close codes by name, e.g. `CloseCode.Replaced === 4004`. */
export const CloseCode = Object.freeze(Object.fromEntries(TABLE.map((r) => [r.name, r.code]))) as { readonly [R in Row as R['name']]: R['code'] };

export type CloseCodeName = Row['name'];
export type CloseCodeValue = Row['code'];

export interface CloseCodeInfo {
  code: CloseCodeValue;
  name: CloseCodeName;
  meaning: string;
  advice: CloseAdvice;
}

/** Every close code with its name, meaning and advice, in code order. */
export const CLOSE_CODES: readonly CloseCodeInfo[] = TABLE;

/** Codes after which a client must not reconnect on its own: those whose advice is `stop`. */
export const TERMINAL_CLOSE_CODES: ReadonlySet<number> = new Set(TABLE.filter((r) => r.advice === 'stop').map((r) => r.code));

export function closeCodeInfo(code: number): CloseCodeInfo | undefined {
  return CLOSE_CODES.find((c) => c.code === code);
}
