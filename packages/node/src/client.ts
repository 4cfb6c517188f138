/**
 * The backend's client for Herald's HTTP API (docs/http-api.md): typed calls,
 * each retried on 5xx, 429 and network failures with backoff (honouring
 * Retry-After). A publish carries an idempotency key — the caller's, or one
 * generated per call — and every retry of that call reuses it, so a retry
 * after an answer that was lost stores nothing twice.
 */
import { randomUUID } from 'node:crypto';
import { HeraldApiError } from './errors.js';
import { DEFAULT_RETRY, delayMs, retryable, type RetryPolicy } from './retry.js';
import type {
  ApiErrorBody,
  BatchItemResult,
  DisconnectRequest,
  DisconnectResult,
  HistoryMessage,
  PublishRequest,
  PublishResult,
  RoomPresence,
  UserPresence,
} from './types.js';

export interface HeraldApiOptions {
  /** The node (or load balancer) URL, e.g. `http://herald:8080`. */
  url: string;
  /** HERALD_API_KEY. */
  apiKey: string;
  /** Per attempt, ms (default 10 000). */
  timeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  /** Defaults to globalThis.fetch. */
  fetch?: typeof fetch;
}

export interface CallOptions {
  /** Aborts the call, retries included. */
  signal?: AbortSignal;
}

export class HeraldApi {
  private readonly base: string;
  private readonly retry: RetryPolicy;
  private readonly timeoutMs: number;
  private readonly fetchFn: typeof fetch;

  constructor(private readonly o: HeraldApiOptions) {
    if (typeof o?.url !== 'string' || o.url === '') throw new TypeError('url is required');
    if (typeof o.apiKey !== 'string' || o.apiKey === '') throw new TypeError('apiKey is required');
    this.base = o.url.replace(/\/+$/, '');
    this.retry = { ...DEFAULT_RETRY, ...o.retry };
    this.timeoutMs = o.timeoutMs ?? 10_000;
    this.fetchFn = o.fetch ?? globalThis.fetch;
  }

  /** `POST /api/v1/publish`. */
  publish(req: PublishRequest, opts: CallOptions = {}): Promise<PublishResult> {
    const body = { ...req, idempotency_key: req.idempotency_key ?? randomUUID() };
    return this.call<PublishResult>('POST', '/api/v1/publish', body, opts);
  }

  /** `POST /api/v1/publish/batch`: per-item results; every item gets its own idempotency key. */
  async publishBatch(messages: PublishRequest[], opts: CallOptions = {}): Promise<BatchItemResult[]> {
    const keyed = messages.map((m) => ({ ...m, idempotency_key: m.idempotency_key ?? randomUUID() }));
    return (await this.call<{ results: BatchItemResult[] }>('POST', '/api/v1/publish/batch', { messages: keyed }, opts)).results;
  }

  /** `POST /api/v1/disconnect`: closes the user's (or one device's) connections with 4011. */
  disconnect(req: DisconnectRequest, opts: CallOptions = {}): Promise<DisconnectResult> {
    return this.call<DisconnectResult>('POST', '/api/v1/disconnect', req, opts);
  }

  /** `GET /api/v1/users/:user/presence`. */
  userPresence(user: string, q: { tenant?: string } = {}, opts: CallOptions = {}): Promise<UserPresence> {
    return this.call<UserPresence>('GET', `/api/v1/users/${encodeURIComponent(user)}/presence${query(q)}`, undefined, opts);
  }

  /** `GET /api/v1/rooms/:room/presence`. */
  roomPresence(room: string, q: { tenant?: string } = {}, opts: CallOptions = {}): Promise<RoomPresence> {
    return this.call<RoomPresence>('GET', `/api/v1/rooms/${encodeURIComponent(room)}/presence${query(q)}`, undefined, opts);
  }

  /** `GET /api/v1/rooms/:room/history`: the newest `limit` messages, oldest first (rooms with history on). */
  async roomHistory(room: string, q: { tenant?: string; limit?: number } = {}, opts: CallOptions = {}): Promise<HistoryMessage[]> {
    return (await this.call<{ messages: HistoryMessage[] }>('GET', `/api/v1/rooms/${encodeURIComponent(room)}/history${query(q)}`, undefined, opts)).messages;
  }

  private async call<T>(method: string, path: string, body: unknown, opts: CallOptions): Promise<T> {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const p = this.retry;
    for (let attempt = 1; ; attempt++) {
      const r = await this.attempt(method, path, text, opts.signal);
      if (r.ok) return r.value as T;
      if (!retryable(r.status) || attempt >= p.attempts || opts.signal?.aborted) {
        throw new HeraldApiError(r.status, r.error.code, r.error.message, r.error.field, attempt);
      }
      await sleep(delayMs(p, attempt, r.retryAfter), opts.signal);
    }
  }

  private async attempt(
    method: string,
    path: string,
    body: string | undefined,
    signal: AbortSignal | undefined,
  ): Promise<{ ok: true; value: unknown } | { ok: false; status: number; error: ApiErrorBody; retryAfter: string | null }> {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    let res: Response;
    try {
      res = await this.fetchFn(this.base + path, {
        method,
        headers: { authorization: `Bearer ${this.o.apiKey}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body } : {}),
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
    } catch (err) {
      const timedOut = timeout.aborted && !signal?.aborted;
      return { ok: false, status: 0, error: { code: timedOut ? 'timeout' : 'network', message: `${method} ${path}: ${(err as Error).message}` }, retryAfter: null };
    }
    const text = await res.text().catch(() => '');
    let parsed: unknown;
    try {
      parsed = text === '' ? {} : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (res.ok) return { ok: true, value: parsed };
    const error = (parsed as { error?: ApiErrorBody } | undefined)?.error ?? { code: `http_${res.status}`, message: `${method} ${path}: HTTP ${res.status}` };
    return { ok: false, status: res.status, error, retryAfter: res.headers.get('retry-after') };
  }
}

function query(q: Record<string, string | number | undefined>): string {
  const s = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined) s.set(k, String(v));
  const t = s.toString();
  return t ? '?' + t : '';
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });
}
