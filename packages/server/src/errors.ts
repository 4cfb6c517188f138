/**
 * Every coded error Herald answers with over HTTP. The HTTP layer turns a
 * ApiError into `{"error":{"code","message","field"?}}` with its status;
 * docs/http-api.md lists the same codes and a test checks the two agree.
 */
export const ERRORS = {
  bad_json: { status: 400, message: 'request body is not valid JSON' },
  invalid_field: { status: 400, message: 'a field is missing or invalid' },
  unauthorized: { status: 401, message: 'missing or wrong API key' },
  forbidden: { status: 403, message: 'request refused: missing or wrong CSRF token, or a cross-site request' },
  not_found: { status: 404, message: 'no such route' },
  method_not_allowed: { status: 405, message: 'method not allowed on this route' },
  idempotency_in_progress: { status: 409, message: 'a request with this idempotency_key is still being processed' },
  payload_too_large: { status: 413, message: 'request body or message data too large' },
  unsupported_media_type: { status: 415, message: 'request body must be application/json' },
  rate_limited: { status: 429, message: 'rate limit exceeded' },
  internal: { status: 500, message: 'internal error' },
  engine_unavailable: { status: 503, message: 'storage engine unavailable; reliable messages cannot be stored' },
  draining: { status: 503, message: 'node is shutting down' },
  overloaded: { status: 503, message: 'node is shedding load; ephemeral publishes are refused for now (Retry-After); reliable publishes still flow' },
  storage_full: { status: 507, message: 'the memory engine holds its limit of reliable message bytes (memoryMaxStoredBytes); nothing was stored' },
} as const;

export type ErrorCodeName = keyof typeof ERRORS;

export class ApiError extends Error {
  readonly status: number;
  /** For 429 and 503: seconds after which a retry may succeed (the Retry-After header). */
  retryAfterSec: number | undefined;
  constructor(
    readonly code: ErrorCodeName,
    message?: string,
    readonly field?: string,
  ) {
    super(message ?? ERRORS[code].message);
    this.name = 'ApiError';
    this.status = ERRORS[code].status;
  }

  toJSON(): { error: { code: string; message: string; field?: string } } {
    return { error: { code: this.code, message: this.message, ...(this.field !== undefined ? { field: this.field } : {}) } };
  }
}
