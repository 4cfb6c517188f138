/**
 * Decoding of one ingest entry's bytes into a publish body, with the same
 * bounds as an HTTP request body: at most `maxBytes` (httpMaxBodyBytes) and
 * `maxDepth` nesting (maxJsonDepth). What fails here can never succeed, so
 * the caller dead-letters it with `reason`.
 */
import { jsonTextDepthExceeds } from '../protocol/jsonDepth.js';

export interface BodyLimits {
  maxBytes: number;
  maxDepth: number;
}

export type DecodedBody = { ok: true; body: unknown } | { ok: false; reason: string };

/** `bytes` is the entry's size as received (the text may be decoded from it). */
export function decodeIngestBody(text: string, bytes: number, limits: BodyLimits): DecodedBody {
  if (bytes > limits.maxBytes) return { ok: false, reason: `payload too large: ${bytes} bytes (max ${limits.maxBytes})` };
  if (jsonTextDepthExceeds(text, limits.maxDepth)) return { ok: false, reason: `payload nests deeper than ${limits.maxDepth} levels` };
  try {
    return { ok: true, body: JSON.parse(text) as unknown };
  } catch (err) {
    return { ok: false, reason: `payload is not JSON: ${(err as Error).message}` };
  }
}

/** The reason recorded with a dead letter for an entry the pipeline refused. */
export function rejectionReason(err: unknown): string {
  const status = (err as { status?: unknown } | null)?.status;
  const message = err instanceof Error ? err.message : String(err);
  return typeof status === 'number' ? `rejected (${status}): ${message}` : `rejected: ${message}`;
}

/** Delay before the next attempt: `base` doubling per attempt (1-based), capped. */
export function backoffMs(base: number, attempt: number, capMs = 60_000): number {
  return Math.min(capMs, base * 2 ** Math.min(Math.max(0, attempt - 1), 20));
}
