/**
 * Text protocol v1: one JSON object per WebSocket text frame (DESIGN.md §1, FIXED types).
 * These types describe the wire; they are shared by the server and the SDK.
 */

/** Device id: 1–64 characters of [A-Za-z0-9._:-]. */
export const DEVICE_ID_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;
/** Room names follow the same rule, up to 128 characters. */
export const ROOM_NAME_PATTERN = /^[A-Za-z0-9._:@/-]{1,128}$/;
export const PLATFORMS = ['web', 'pc', 'mobile', 'pos', 'other'] as const;
export type Platform = (typeof PLATFORMS)[number];
export const DEFAULT_DEVICE = 'default';
export const DEFAULT_TENANT = 'default';

/** Subprotocol name of the binary protocol v2. */
export const BINARY_SUBPROTOCOL = 'herald.v2.bin';

// ---- server → client ----

export interface WelcomeFrame {
  type: 'welcome';
  conn: string;
  node: string;
  user: string;
  tenant: string;
  device: string;
  heartbeat_ms: number;
  /** The seq replay starts after; the client should treat it as its watermark. */
  last_seq: number;
  /** false when the requested start point has fallen out of retention. */
  recovered: boolean;
  /** Protocol v2 (`herald.v2.bin`) only: the codec negotiated for this connection. */
  compression?: 'none' | 'deflate' | 'zstd';
  /** Protocol v2 only: payloads of at least this many bytes are compressed (when a codec is negotiated). */
  compression_threshold?: number;
}

export interface MessageFrame {
  type: 'message';
  id: string;
  /** Present for reliable messages: per-user, strictly increasing; must be acked. */
  seq?: number;
  event?: string;
  room?: string;
  /** Room messages with history on: per room, strictly increasing. */
  offset?: number;
  from?: string;
  /** The JSON data (absent on the wire when `data_b64` is given; the SDK then sets the bytes here). */
  data: unknown;
  /** Binary payloads (v1): the bytes as standard base64, instead of `data`. */
  data_b64?: string;
  /** Publish time, milliseconds since the epoch. */
  ts: number;
}

export interface ReplyFrame {
  type: 'reply';
  id: string;
  ok: true;
  [extra: string]: unknown;
}

export interface ErrorFrame {
  type: 'error';
  id?: string;
  code: string;
  message: string;
}

export interface PresenceEventFrame {
  type: 'join' | 'leave';
  room: string;
  user: string;
  device: string;
}

/** A member's awareness state changed (`data: null`: cleared). */
export interface StateEventFrame {
  type: 'state';
  room: string;
  user: string;
  device: string;
  data: unknown;
}

export interface PongFrame {
  type: 'pong';
}

/**
 * Several messages of one room in one frame, oldest first: sent only when the
 * server's room batching window is on (config `roomBatchWindowMs`). Each entry
 * is a complete `message` frame; a receiver handles them one by one, in order,
 * exactly as if they had come as separate frames.
 */
export interface BatchFrame {
  type: 'batch';
  messages: MessageFrame[];
}

export type ServerFrame = WelcomeFrame | MessageFrame | ReplyFrame | ErrorFrame | PresenceEventFrame | StateEventFrame | PongFrame | BatchFrame;

// ---- client → server ----

export interface AuthFrame {
  type: 'auth';
  token: string;
  id?: string;
}
export interface AckFrame {
  type: 'ack';
  seq: number;
}
export interface SyncFrame {
  type: 'sync';
  after: number;
  id?: string;
}
export interface JoinFrame {
  type: 'join';
  room: string;
  /** Recover from this position (room history): missed messages are replayed before live ones. */
  since?: { offset: number; epoch: string };
  id?: string;
}
export interface LeaveFrame {
  type: 'leave';
  room: string;
  id?: string;
}
export interface PublishFrame {
  type: 'publish';
  room: string;
  /** JSON data, or (instead) `data_b64`: bytes as standard base64. */
  data?: unknown;
  data_b64?: string;
  event?: string;
  id?: string;
}
export interface PresenceFrame {
  type: 'presence';
  room: string;
  id?: string;
}
export interface PingFrame {
  type: 'ping';
}
/** A call to the business backend through the RPC hook (docs/hooks.md): answered by a reply or error with the same `id`. */
export interface RpcFrame {
  type: 'rpc';
  id: string;
  /** 1-128 of [A-Za-z0-9._:/-] (RPC_METHOD_PATTERN). */
  method: string;
  data?: unknown;
}

/** Method names of `rpc` frames. */
export const RPC_METHOD_PATTERN = /^[A-Za-z0-9._:/-]{1,128}$/;

/** The newest `limit` messages of a room's history, oldest first. */
export interface HistoryFrame {
  type: 'history';
  room: string;
  limit?: number;
  id?: string;
}
/** Awareness state of this connection in a room (`data: null` clears it). */
export interface StateFrame {
  type: 'state';
  room: string;
  data: unknown;
  id?: string;
}


export type ClientFrame = AuthFrame | AckFrame | SyncFrame | JoinFrame | LeaveFrame | PublishFrame | PresenceFrame | PingFrame | RpcFrame | HistoryFrame | StateFrame;

/** Error codes carried by `error` frames. */
export const ErrorCode = {
  BadFrame: 'bad_frame',
  UnknownType: 'unknown_type',
  BadField: 'bad_field',
  BadAck: 'bad_ack',
  BadSync: 'bad_sync',
  RoomForbidden: 'room_forbidden',
  NotJoined: 'not_joined',
  TooManyRooms: 'too_many_rooms',
  RateLimited: 'rate_limited',
  PayloadTooLarge: 'payload_too_large',
  Internal: 'internal',
  /** A hook refused a join or a publish (docs/hooks.md). */
  Forbidden: 'forbidden',
  /** A hook failed, timed out or its breaker is open: try again later. */
  Unavailable: 'unavailable',
  /** An `rpc` frame on a node without an RPC hook. */
  NotSupported: 'not_supported',
} as const;
export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];
