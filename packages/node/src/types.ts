/** The shapes of Herald's HTTP API (docs/http-api.md), as the backend sends and receives them. */

export type Platform = 'web' | 'pc' | 'mobile' | 'pos' | 'other';

/** Who a message goes to; user and room targets take an optional tenant, most an optional platform. */
export type Target =
  | { user: string; device?: string; tenant?: string; platform?: Platform }
  | { users: string[]; tenant?: string; platform?: Platform }
  | { room: string; tenant?: string; platform?: Platform }
  | { tenant: string; platform?: Platform }
  | { all: true; platform?: Platform };

export interface PublishRequest {
  to: Target;
  /** Any JSON value (or `data_b64` for bytes, where the server supports it). */
  data?: unknown;
  data_b64?: string;
  event?: string;
  /** Default: true for user targets, false otherwise. */
  reliable?: boolean;
  /** Seconds a reliable message may wait for delivery. */
  ttl?: number;
  /** Generated per call when absent, and reused by every retry of that call. */
  idempotency_key?: string;
  /** Seconds after which an unacked reliable message is reported as an `unacked` event. */
  notify_unacked_after?: number;
}

export interface PublishResult {
  id: string;
  /** Per user: the seq the reliable message got in their inbox. */
  seq?: Record<string, number>;
  /** Devices that took it (online) on the node that answered. */
  online: number;
}

export interface ApiErrorBody {
  code: string;
  message: string;
  field?: string;
}

export type BatchItemResult = ({ ok: true } & PublishResult) | { ok: false; error: ApiErrorBody };

export interface DisconnectRequest {
  user: string;
  tenant?: string;
  device?: string;
  reason?: string;
}

export interface DisconnectResult {
  ok: true;
  disconnected_local: number;
}

export interface UserPresence {
  user: string;
  tenant: string;
  online: boolean;
  devices: { device: string; platform: Platform; node: string; conn: string; since: string }[];
}

export interface RoomPresence {
  room: string;
  tenant: string;
  count: number;
  members: { user: string; device: string; node?: string; state?: unknown }[];
}

export interface HistoryMessage {
  id: string;
  offset?: number;
  data?: unknown;
  data_b64?: string;
  event?: string;
  from?: string;
  ts: number;
  [extra: string]: unknown;
}
