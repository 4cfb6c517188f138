/**
 * What Herald sends to the business and what it expects back (DESIGN.md §7,
 * docs/events.md): webhook events, and the bodies and answers of the connect,
 * join, publish and rpc hooks. Every call is signed: check it with
 * `verifySignature` before trusting the body.
 */

export type EventType = 'connect' | 'disconnect' | 'online' | 'offline' | 'join' | 'leave' | 'publish' | 'acked' | 'unacked';

/** One event of a webhook POST `{"events":[…]}`; fields beyond the common ones depend on the type. */
export interface HeraldEvent {
  /** Stable: dedupe on it (delivery is at least once). */
  id: string;
  type: EventType;
  /** ms since the epoch. */
  ts: number;
  node: string;
  tenant: string;
  user: string;
  device?: string;
  platform?: string;
  conn?: string;
  code?: number;
  reason?: string;
  room?: string;
  seq?: number;
  message_id?: string;
  data?: unknown;
}

export interface WebhookBody {
  events: HeraldEvent[];
}

/** HERALD_HOOK_CONNECT_URL: a connection without a token, authenticated by the backend. */
export interface ConnectHookRequest {
  /** Lower-case names, cookie included. */
  headers: Record<string, string>;
  query: Record<string, string>;
  remote: string;
}

export type ConnectHookAnswer =
  | { user: string; tenant?: string; rooms?: string[]; /** unix seconds */ expires_at?: number }
  | { reject: { code: 4001 | 4003; reason: string } };

/** HERALD_HOOK_JOIN_URL. */
export interface JoinHookRequest {
  tenant: string;
  user: string;
  device: string;
  room: string;
}

export type AllowAnswer = { allow: true } | { allow: false; reason: string };

/** HERALD_HOOK_PUBLISH_URL: a client's room publish. */
export interface PublishHookRequest {
  tenant: string;
  user: string;
  device: string;
  room: string;
  data: unknown;
}

/** `data`, when given, is what members receive instead. */
export type PublishHookAnswer = { allow: true; data?: unknown } | { allow: false; reason: string };

/** HERALD_HOOK_RPC_URL: a client's `{"type":"rpc","id","method","data"}`. */
export interface RpcHookRequest {
  tenant: string;
  user: string;
  device: string;
  method: string;
  data: unknown;
}

export type RpcHookAnswer = { data: unknown } | { error: { code: string; message: string } };
