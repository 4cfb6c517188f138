/**
 * Structured logs (pino), one JSON object per line. Tokens, API keys, cookies
 * and message bodies are never logged: the redact list below is a safety net,
 * and request URLs are logged by path only (a token may sit in the query string).
 *
 * Field names used across the server (docs/operations.md, "Log fields"):
 *   node   node id (every line)          conn   connection id
 *   user   user id                       tenant tenant id
 *   req    HTTP request id (x-request-id) route  API route name
 *   status HTTP status                   ms     request duration
 *   code   WebSocket close code          err    error (message, stack)
 */
import { randomBytes } from 'node:crypto';
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/** Paths censored wherever they appear (top level or one level down). */
export const REDACT_PATHS = [
  'token', '*.token', 'apiKey', '*.apiKey', 'key', '*.key', 'jwtSecret', '*.jwtSecret', 'secret', '*.secret', 'password', '*.password', 'webhookSecret', '*.webhookSecret',
  'authorization', '*.authorization', 'cookie', '*.cookie', 'set-cookie', '*["set-cookie"]', 'headers.authorization', 'headers.cookie',
  'data', '*.data', 'body', '*.body', 'payload', '*.payload', 'query', '*.query',
];

/** A logger to stdout (or `destination`, e.g. in tests) with the redact list applied. */
export function createLogger(level: string, base: Record<string, unknown> = {}, destination?: DestinationStream): Logger {
  const options = { level, base, redact: { paths: REDACT_PATHS, censor: '[redacted]' } };
  return destination ? pino(options, destination) : pino(options);
}

const REQUEST_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

/**
 * The request id of an HTTP request: a caller's `x-request-id` when it is a
 * sane token (1–128 of [A-Za-z0-9._:@/+=-]; anything else could forge log
 * lines or bloat them), else a fresh id: a random per-process prefix and a
 * counter, unique without paying for random bytes on every request.
 */
export function requestId(incoming: string | string[] | undefined): string {
  const v = Array.isArray(incoming) ? incoming[0] : incoming;
  if (v !== undefined && REQUEST_ID.test(v)) return v;
  return REQUEST_PREFIX + (++requestCounter).toString(36);
}

const REQUEST_PREFIX = randomBytes(6).toString('base64url') + '-';
let requestCounter = 0;
