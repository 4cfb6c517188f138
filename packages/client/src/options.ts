/**
 * Client options, their defaults and their validation. Every duration is in
 * milliseconds.
 */
import { DEVICE_ID_PATTERN, PLATFORMS, type AsyncCompressor, type Compressor, type Platform } from '@herald/protocol';
import { DEFAULT_BACKOFF } from './backoff.js';
import { HeraldError } from './errors.js';
import { defaultWebSocket, type WebSocketConstructor } from './socket.js';
import { sharedSocketConstructor } from './shared/sharedSocket.js';
import type { ChannelConstructor } from './shared/leader.js';
import { transportConstructor, type TransportName, type TransportOptions } from './transports/select.js';
import { defaultStore, type SeqStore } from './storage.js';
import type { TokenSource } from './token.js';

export type AckMode = 'auto' | 'manual';
/** `none`: no token at all — the server's connect hook authenticates the connection (e.g. by its cookies). */
export type TokenTransport = 'frame' | 'query' | 'none';
/** `json`: the text protocol v1. `binary`: protocol v2 (`herald.v2.bin`), optionally compressed. */
export type WireProtocol = 'json' | 'binary';
/**
 * Compression the binary protocol offers the server. `auto`: raw DEFLATE on
 * the web-standard CompressionStream when the runtime has it (browsers,
 * Node ≥ 20), else none. `none`: offer nothing. A codec (`Compressor` or
 * `AsyncCompressor` from `@herald/protocol`): offer exactly that one, e.g. a
 * zstd codec built on node:zlib.
 */
export type CompressionOption = 'auto' | 'none' | Compressor | AsyncCompressor;

export interface HeraldClientOptions extends TransportOptions {
  /**
   * Share one connection among the tabs of this origin (browsers): the tabs elect a leader
   * (Web Locks, else BroadcastChannel), only it holds the connection, every tab gets every
   * frame. `true` shares per url+device; a string names the group. JSON protocol only.
   */
  shared?: boolean | string;
  /** The BroadcastChannel for `shared` (default: the browser's). */
  BroadcastChannel?: ChannelConstructor;
  /**
   * The WebSocket endpoint, e.g. `wss://push.example.com/ws`. http(s) URLs are
   * turned into ws(s); a bare origin gets `/ws`; in browsers a relative URL is
   * resolved against the page. Required.
   */
  url: string;
  /**
   * A JWT, or a function returning one (sync or async). A function is called on
   * the first connect, when the cached token's `exp` has passed, and after the
   * server closes with 4001 (one refresh per connection attempt before giving up).
   * Required, except with `tokenTransport: "none"`.
   */
  token?: TokenSource;
  /**
   * Stable device id, 1–64 of `[A-Za-z0-9._:-]`. Default: not sent, so the
   * server uses the token's `did` claim, else `"default"`. Two connections of one
   * user with the same device id replace each other (close 4004), so give each
   * browser tab or app install its own.
   */
  device?: string;
  /** `web|pc|mobile|pos|other`. Default `"web"` in browsers; not sent in Node (the server then assumes `other`). */
  platform?: Platform;
  /** WebSocket constructor. Default `globalThis.WebSocket` (browsers, Node ≥ 22); pass `ws`'s `WebSocket` on Node 20. */
  WebSocket?: WebSocketConstructor;
  /**
   * How the token reaches the server: `"frame"` sends `{"type":"auth"}` as the
   * first frame (keeps tokens out of URLs and access logs); `"query"` puts it in
   * the `token` query parameter; `"none"` sends no token: the server's connect
   * hook authenticates the connection from its request (browsers send the
   * site's cookies on same-site WebSocket upgrades). Default `"frame"`.
   */
  tokenTransport?: TokenTransport;
  /**
   * The wire protocol: `"json"` (text protocol v1) or `"binary"` (protocol v2,
   * WebSocket subprotocol `herald.v2.bin`: a binary header with a CRC32, the
   * reliable seq in the header, optional per-message compression). The SDK
   * behaves the same with both. Default `"json"`. `"binary"` needs the class
   * from `@herald/client/binary` (the one from `@herald/client` has no codec
   * and throws `invalid_argument`).
   */
  protocol?: WireProtocol;
  /**
   * Binary protocol only: the compression to offer (the server picks; it
   * compresses only frames of at least its threshold, 1 KiB by default).
   * Default `"auto"`: deflate where the runtime has `CompressionStream`.
   */
  compression?: CompressionOption;
  /**
   * `"auto"`: a reliable message counts as processed once every `message`
   * listener has returned, and is acked then. `"manual"`: the app calls
   * `message.ack()` (or `client.ack(seq)`) after its own work; unacked messages
   * are delivered again after a reconnect. Default `"auto"`.
   */
  ackMode?: AckMode;
  /**
   * Acks are cumulative and coalesced: at most one ack frame per window of this
   * many ms (0 = at the end of the current task, via a microtask). Default 10.
   */
  ackDelayMs?: number;
  /** Where the last processed seq is kept. Default: localStorage in browsers, memory in Node. */
  store?: SeqStore;
  /**
   * Key under which the seq is stored. Default `herald:last_seq:<tenant>:<user>:<device>`,
   * read from the token's `tid`, `sub` and `did` claims (and the `device` option),
   * so each identity resumes from its own position.
   */
  storageKey?: string;
  /** Timeout of join/leave/presence/publish, counted from the call (so it includes waiting for a connection). Default 10000. */
  requestTimeoutMs?: number;
  /** Time allowed from opening a socket to receiving `welcome`; past it the attempt counts as failed. Default 10000. */
  connectTimeoutMs?: number;
  /** Silence after which the connection is considered dead. Default 2 × `heartbeat_ms` from `welcome`. */
  heartbeatTimeoutMs?: number;
  /**
   * With a token provider and a token carrying `exp`: how long before expiry
   * to fetch a fresh token and hand it to the server over the open connection
   * (an `auth` frame), so the connection outlives the token without a
   * reconnect. Capped at half the remaining lifetime. 0 disables. Default 60000.
   */
  tokenRefreshLeadMs?: number;
  /** Reconnect after non-terminal closes. Default true. */
  reconnect?: boolean;
  /** Backoff window of the first retry (full jitter: the delay is uniform in [0, window)). Default 500. */
  minReconnectDelayMs?: number;
  /** Largest backoff window. Default 20000. */
  maxReconnectDelayMs?: number;
  /** Consecutive failed attempts before giving up with `reconnect_failed`. Default Infinity. */
  maxReconnectAttempts?: number;
  /** Random source for the jitter, in [0, 1). Default Math.random. For tests. */
  random?: () => number;
}

export interface ResolvedOptions {
  url: string;
  /** The transport in use and the WebSocket failures counted toward a fallback (shared with the constructor). */
  transport: { current: TransportName; failures: number };
  token: TokenSource;
  device: string | undefined;
  platform: Platform | undefined;
  WebSocket: WebSocketConstructor;
  tokenTransport: TokenTransport;
  protocol: WireProtocol;
  compression: CompressionOption;
  ackMode: AckMode;
  ackDelayMs: number;
  store: SeqStore;
  storageKey: string | undefined;
  requestTimeoutMs: number;
  connectTimeoutMs: number;
  heartbeatTimeoutMs: number | undefined;
  tokenRefreshLeadMs: number;
  reconnect: boolean;
  minReconnectDelayMs: number;
  maxReconnectDelayMs: number;
  maxReconnectAttempts: number;
  random: () => number;
}

function bad(message: string): HeraldError {
  return new HeraldError('invalid_argument', message);
}

function duration(name: string, value: number | undefined, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || Number.isNaN(value) || value < min) throw bad(`${name} must be a number ≥ ${min} (ms), got ${String(value)}`);
  return value;
}

function isCodec(value: unknown): value is Compressor | AsyncCompressor {
  const c = value as Partial<Compressor> | null;
  return typeof c === 'object' && c !== null && (c.name === 'deflate' || c.name === 'zstd') && typeof c.compress === 'function' && typeof c.decompress === 'function';
}

export function resolveOptions(options: HeraldClientOptions): ResolvedOptions {
  if (!options || typeof options.url !== 'string' || options.url === '') throw bad('url is required');
  const noToken = options?.tokenTransport === 'none';
  if (!noToken && typeof options.token !== 'string' && typeof options.token !== 'function') throw bad('token must be a string or a function returning one');
  const device = options.device;
  if (device !== undefined && !DEVICE_ID_PATTERN.test(device)) throw bad(`device must be 1–64 of [A-Za-z0-9._:-], got ${JSON.stringify(device)}`);
  if (options.platform !== undefined && !PLATFORMS.includes(options.platform)) throw bad(`platform must be one of ${PLATFORMS.join('|')}`);
  const protocolChoice = options.protocol ?? 'json';
  const chosen = transportConstructor(options, options.WebSocket ?? defaultWebSocket(), protocolChoice);
  let WS = chosen.ctor;
  if (WS && options.shared) WS = sharedConstructor(options, WS, protocolChoice);
  if (!WS) throw new HeraldError('no_websocket', 'no WebSocket implementation: pass { WebSocket } (e.g. `import { WebSocket } from "ws"`)');
  const inBrowser = typeof (globalThis as { document?: unknown }).document !== 'undefined';
  const ackMode = options.ackMode ?? 'auto';
  if (ackMode !== 'auto' && ackMode !== 'manual') throw bad('ackMode must be "auto" or "manual"');
  const tokenTransport = options.tokenTransport ?? 'frame';
  if (tokenTransport !== 'frame' && tokenTransport !== 'query' && tokenTransport !== 'none') throw bad('tokenTransport must be "frame", "query" or "none"');
  const protocol = options.protocol ?? 'json';
  if (protocol !== 'json' && protocol !== 'binary') throw bad('protocol must be "json" or "binary"');
  const compression = options.compression ?? 'auto';
  if (compression !== 'auto' && compression !== 'none' && !isCodec(compression)) {
    throw bad('compression must be "auto", "none" or a codec { name: "deflate" | "zstd", compress, decompress }');
  }
  const minReconnectDelayMs = duration('minReconnectDelayMs', options.minReconnectDelayMs, DEFAULT_BACKOFF.minDelayMs, 1);
  return {
    url: options.url,
    token: options.token ?? '',
    device,
    platform: options.platform ?? (inBrowser ? 'web' : undefined),
    WebSocket: WS,
    transport: chosen.status,
    tokenTransport,
    protocol,
    compression,
    ackMode,
    ackDelayMs: duration('ackDelayMs', options.ackDelayMs, 10),
    store: options.store ?? defaultStore(),
    storageKey: options.storageKey,
    requestTimeoutMs: duration('requestTimeoutMs', options.requestTimeoutMs, 10_000, 1),
    connectTimeoutMs: duration('connectTimeoutMs', options.connectTimeoutMs, 10_000, 1),
    heartbeatTimeoutMs: options.heartbeatTimeoutMs === undefined ? undefined : duration('heartbeatTimeoutMs', options.heartbeatTimeoutMs, 0, 1),
    tokenRefreshLeadMs: duration('tokenRefreshLeadMs', options.tokenRefreshLeadMs, 60_000),
    reconnect: options.reconnect ?? true,
    minReconnectDelayMs,
    maxReconnectDelayMs: duration('maxReconnectDelayMs', options.maxReconnectDelayMs, Math.max(DEFAULT_BACKOFF.maxDelayMs, minReconnectDelayMs), minReconnectDelayMs),
    maxReconnectAttempts: duration('maxReconnectAttempts', options.maxReconnectAttempts, Infinity),
    random: options.random ?? Math.random,
  };
}

/** `shared`: the client's sockets come from the tab group's leader (shared/sharedSocket.ts). */
function sharedConstructor(options: HeraldClientOptions, ws: WebSocketConstructor, protocol: string): WebSocketConstructor {
  const Channel = options.BroadcastChannel ?? (globalThis as { BroadcastChannel?: ChannelConstructor }).BroadcastChannel;
  if (!Channel) throw bad('shared needs BroadcastChannel (a browser, or pass { BroadcastChannel })');
  if (protocol !== 'json') throw bad('shared connections carry the JSON protocol only');
  if (typeof options.shared === 'string' && options.shared === '') throw bad('shared must be true or a non-empty group name');
  const group = typeof options.shared === 'string' ? options.shared : `${options.url}|${options.device ?? ''}`;
  return sharedSocketConstructor(ws, `herald:shared:${group}`, Channel);
}
