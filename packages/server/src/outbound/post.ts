/**
 * One signed JSON POST to a backend — the transport of webhooks and hooks.
 * Every call has a timeout, a bound on the response it reads, a request id
 * and the Herald signature; connections are pooled and kept alive per origin
 * (undici), never opened per call. Failures are classified so that callers
 * apply their own policy (retry, breaker, refusal).
 */
import { randomUUID } from 'node:crypto';
import { Agent, request } from 'undici';
import { signBody, SIGNATURE_HEADER } from './signature.js';

export interface PostOptions {
  /** Whole call, connect to last byte, ms. */
  timeoutMs: number;
  /** Largest response body read, bytes; a longer one fails as `too_large`. */
  maxResponseBytes: number;
  /** Signs the body when set (`Herald-Signature`). */
  secret?: string;
  /** Sent as `x-request-id`; generated when absent. */
  requestId?: string;
}

/** Why a call failed: the caller's policy and the failure metrics use these. */
export type PostFailure = 'timeout' | 'network' | 'status' | 'too_large' | 'bad_json';

export class PostError extends Error {
  constructor(
    readonly reason: PostFailure,
    message: string,
    /** The HTTP status, when one came back. */
    readonly status?: number,
  ) {
    super(message);
    this.name = 'PostError';
  }
}

export interface PostResult {
  status: number;
  /** The body parsed as JSON; undefined when empty or when `parse` is false. */
  json: unknown;
  requestId: string;
}

/** Keep-alive pool shared by every outbound call of the process. */
const agent = new Agent({ keepAliveTimeout: 10_000, keepAliveMaxTimeout: 60_000, connections: 64, pipelining: 1 });

/**
 * POSTs `body` (already JSON text) to `url`. Resolves for any 2xx (the body parsed as JSON when
 * `parse`); rejects with a PostError otherwise. Redirects are not followed: a 3xx is a failure.
 */
export async function postJson(url: string, body: string, o: PostOptions, parse = true): Promise<PostResult> {
  const requestId = o.requestId ?? randomUUID();
  const headers: Record<string, string> = { 'content-type': 'application/json', 'x-request-id': requestId, 'user-agent': 'herald' };
  if (o.secret !== undefined) headers[SIGNATURE_HEADER] = signBody(o.secret, body);
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), o.timeoutMs);
  try {
    const res = await request(url, { method: 'POST', body, headers, dispatcher: agent, signal: ac.signal, headersTimeout: o.timeoutMs, bodyTimeout: o.timeoutMs });
    const text = await readBounded(res.body, o.maxResponseBytes);
    if (res.statusCode < 200 || res.statusCode >= 300) throw new PostError('status', `answered ${res.statusCode}`, res.statusCode);
    if (!parse || text.trim() === '') return { status: res.statusCode, json: undefined, requestId };
    try {
      return { status: res.statusCode, json: JSON.parse(text) as unknown, requestId };
    } catch {
      throw new PostError('bad_json', 'the answer is not JSON', res.statusCode);
    }
  } catch (err) {
    if (err instanceof PostError) throw err;
    if (ac.signal.aborted) throw new PostError('timeout', `no answer within ${o.timeoutMs} ms`);
    throw new PostError('network', (err as Error).message);
  } finally {
    clearTimeout(timer);
  }
}

/** Reads a response body up to `max` bytes; past that the stream is destroyed and the call fails. */
async function readBounded(body: AsyncIterable<Buffer> & { destroy(err?: Error): void }, max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of body) {
    n += chunk.length;
    if (n > max) {
      body.destroy();
      throw new PostError('too_large', `answer over ${max} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
