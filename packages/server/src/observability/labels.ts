/**
 * The label values of Herald's labelled counters, as const arrays: the code
 * is typed by them, and tests check docs/limits.md and docs/operations.md
 * list every one (test/unit/labelsDocs.test.ts).
 */

/** `herald_limit_rejections_total{limit}`: every limit that refuses something. */
export const LIMIT_NAMES = [
  'connections_per_user',
  'connections_per_node',
  'pending_auth',
  'connect_rate_per_ip',
  'frames_per_user',
  'frames_per_tenant',
  'publish_per_user',
  'api_publish_per_tenant',
  'pre_auth_bytes',
  'origin',
  'auth_failures_per_ip',
  'http_sockets_per_ip',
] as const;
export type LimitName = (typeof LIMIT_NAMES)[number];

/** Why a token was refused (AuthError.reason). */
export const TOKEN_FAILURE_REASONS = ['missing', 'malformed', 'invalid', 'expired', 'claims'] as const;
export type TokenFailureReason = (typeof TOKEN_FAILURE_REASONS)[number];

/** `herald_auth_failures_total{reason}`: token refusals plus the handshake, session and API-key failures. */
export const AUTH_FAILURE_REASONS = [
  ...TOKEN_FAILURE_REASONS,
  'timeout',
  'expired_in_session',
  'device_mismatch',
  'bad_handshake',
  'api_key',
  'admin_login',
  'admin_api',
] as const;
export type AuthFailureReason = (typeof AUTH_FAILURE_REASONS)[number];

/**
 * `herald_webhook_events_total{type,outcome}` (docs/events.md): what happened to webhook events.
 * `rejected`: an attempt answered 4xx other than 408/429 (retried all the same).
 */
export const WEBHOOK_OUTCOMES = ['emitted', 'delivered', 'retried', 'rejected', 'dropped_retention', 'dropped_overflow'] as const;
export type WebhookOutcome = (typeof WEBHOOK_OUTCOMES)[number];
