/**
 * The connect hook: authenticates a connection that carries no token, by
 * asking the backend with what the client sent — its headers (cookie
 * included), its query and its address. The backend's identity makes the
 * session exactly as a JWT's claims would. Transport-agnostic: WebSocket
 * sessions call it at open, and any other transport (SSE) can call
 * `authenticate` with its own request.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { CloseCode, DEFAULT_TENANT } from '@herald/protocol';
import type { Identity } from '../auth/jwtVerifier.js';
import { connectAnswer } from './answers.js';
import { HookError, type HookClient } from './hookClient.js';

/** What the client sent: read from the upgrade (or SSE) request, passed in, never kept on the session. */
export interface ConnectRequest {
  /** Node's lower-cased request headers. */
  headers: IncomingHttpHeaders;
  query: URLSearchParams;
  /** The client address (trusted proxies applied). */
  remote: string;
}

/** The hook's decision: an identity, or a close code with a reason. */
export type ConnectOutcome =
  | { ok: true; identity: Identity }
  | {
      ok: false;
      /** 4001/4003: the backend refused; 1013: no decision (failure, timeout, breaker open) — try again later. */
      code: 4001 | 4003 | 1013;
      reason: string;
      /** `rejected` by the backend, or `unavailable` (the hook failed). */
      why: 'rejected' | 'unavailable';
    };

export class ConnectHook {
  constructor(
    private readonly client: HookClient,
    /** `jwtClockToleranceSec`, ms: an `expires_at` is judged like a JWT `exp`. */
    private readonly toleranceMs: number,
  ) {}

  async authenticate(req: ConnectRequest): Promise<ConnectOutcome> {
    let answer;
    try {
      answer = await this.client.call({ headers: headerObject(req.headers), query: Object.fromEntries(req.query), remote: req.remote }, connectAnswer);
    } catch (err) {
      if (!(err instanceof HookError)) throw err;
      return { ok: false, code: CloseCode.TryAgainLater, reason: `authentication unavailable (${err.reason}), try again later`, why: 'unavailable' };
    }
    if (answer.reject) return { ok: false, code: answer.reject.code, reason: answer.reject.reason ?? (answer.reject.code === 4001 ? 'unauthorized' : 'forbidden'), why: 'rejected' };
    const identity: Identity = { user: answer.user!, tenant: answer.tenant ?? DEFAULT_TENANT };
    if (answer.rooms !== undefined) identity.rooms = answer.rooms;
    if (answer.expires_at !== undefined) {
      identity.expiresAt = answer.expires_at * 1000;
      if (identity.expiresAt + this.toleranceMs <= Date.now()) return { ok: false, code: CloseCode.Unauthorized, reason: 'session expired (expires_at is in the past)', why: 'rejected' };
    }
    return { ok: true, identity };
  }
}

/** Header values as strings: a repeated header joined with ", " (Node already joins `cookie` with "; "). */
function headerObject(h: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined) continue;
    out[k] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}
