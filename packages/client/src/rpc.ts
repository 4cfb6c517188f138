/**
 * `client.rpc(method, data, {timeoutMs})`: a call to the business backend
 * through the server's RPC hook (docs/hooks.md), over the connection the
 * client already holds. Resolves with the backend's `data`; rejects with a
 * HeraldError whose `code` says what happened:
 * - `server`: an error frame; `serverCode` is the backend's own code, or
 *   `unavailable` (the hook failed, timed out, its breaker is open: retry
 *   later), `not_supported` (no RPC hook on the server), `rate_limited`;
 * - `timeout`: no answer in time (the backend may still have run it);
 * - `disconnected`: the connection dropped after the call was sent (not resent:
 *   it may have been applied);
 * - `closed`: the client was closed;
 * - `invalid_argument`: a method name the server would refuse.
 */
import { RPC_METHOD_PATTERN, type ReplyFrame } from '@herald/protocol';
import { HeraldError } from './errors.js';
import type { RequestFrame } from './requests.js';

export interface RpcOptions {
  /** Overrides `requestTimeoutMs` for this call, in ms. */
  timeoutMs?: number;
  /** Same as `timeoutMs`. */
  timeout?: number;
}

/** Server error codes an rpc may fail with besides the backend's own (HeraldError `serverCode`). */
export type RpcServerCode = 'unavailable' | 'not_supported' | 'rate_limited' | 'bad_field' | (string & {});

/** Sends one request frame and resolves with its reply (the client's request tracker, policy `reject`). */
export type RpcSender = (frame: RequestFrame, timeoutMs: number | undefined) => Promise<ReplyFrame>;

export async function callRpc<T>(send: RpcSender, method: string, data: unknown, options: RpcOptions = {}): Promise<T> {
  if (typeof method !== 'string' || !RPC_METHOD_PATTERN.test(method)) {
    throw new HeraldError('invalid_argument', `rpc method must be 1–128 of [A-Za-z0-9._:/-], got ${JSON.stringify(method)}`);
  }
  const frame: RequestFrame = { type: 'rpc', method };
  if (data !== undefined) frame.data = data;
  const reply = await send(frame, options.timeoutMs ?? options.timeout);
  return (reply as ReplyFrame & { data?: unknown }).data as T;
}

/** True when `err` is an rpc refused by the server or backend with `serverCode` (any code when omitted). */
export function isRpcError(err: unknown, serverCode?: RpcServerCode): err is HeraldError & { code: 'server'; serverCode: string } {
  return err instanceof HeraldError && err.code === 'server' && err.serverCode !== undefined && (serverCode === undefined || err.serverCode === serverCode);
}
