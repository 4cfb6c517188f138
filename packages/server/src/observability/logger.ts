/**
 * Structured logs (pino). Tokens, API keys and message bodies are never
 * logged: the redact list below is a safety net, and request URLs are logged
 * by path only (a token may sit in the query string).
 */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, base: Record<string, unknown> = {}): Logger {
  return pino({
    level,
    base,
    redact: {
      paths: ['token', '*.token', 'apiKey', '*.apiKey', 'jwtSecret', '*.jwtSecret', 'authorization', '*.authorization', 'data', '*.data'],
      censor: '[redacted]',
    },
  });
}
