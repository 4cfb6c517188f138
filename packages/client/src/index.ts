/**
 * @herald/client — the Herald SDK for browsers and Node.js.
 * Reconnects, heartbeats, acks, dedupes and re-joins rooms so apps do not.
 */
export {
  HeraldClient,
  type ConnectionState,
  type HeraldEvents,
  type HeraldMessage,
  type DisconnectedEvent,
  type ClosedEvent,
  type UnrecoveredEvent,
  type RequestOptions,
  type JoinOptions,
  type PublishOptions,
  type PresenceMember,
  type PresenceReply,
  type SyncReply,
  type ClientStats,
} from './client.js';
export type { HeraldClientOptions, AckMode, TokenTransport, WireProtocol, CompressionOption } from './options.js';
export { HeraldError, isHeraldError, type HeraldErrorCode } from './errors.js';
export { isRpcError, type RpcOptions, type RpcServerCode } from './rpc.js';
export { memoryStore, webStorageStore, defaultStore, type SeqStore, type WebStorageLike } from './storage.js';
export { fullJitterDelay, type BackoffOptions } from './backoff.js';
export type { WebSocketLike, WebSocketConstructor } from './socket.js';
export type { TransportName, TransportOptions } from './transports/select.js';
export type { EventSourceConstructor, EventSourceLike, FetchLike } from './transports/eventStream.js';
export type { TokenSource } from './token.js';
export {
  CloseCode,
  TERMINAL_CLOSE_CODES,
  type WelcomeFrame,
  type MessageFrame,
  type PresenceEventFrame,
  type ReplyFrame,
  type ErrorFrame,
  type Platform,
} from '@herald/protocol';
