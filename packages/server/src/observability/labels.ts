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
  'event_rate_per_tenant',
  'event_rate_per_user_room',
  'shed_connections',
  'shed_publishes',
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
  'hook_rejected',
  'hook_unavailable',
] as const;
export type AuthFailureReason = (typeof AUTH_FAILURE_REASONS)[number];

/** The hooks in the path (DESIGN.md §7): the `hook` label of every `herald_hook_*` series. */
export const HOOK_NAMES = ['connect', 'join', 'publish', 'rpc'] as const;
export type HookName = (typeof HOOK_NAMES)[number];

/** `herald_hook_calls_total{result}`: `ok` the backend decided (allow or refuse), `failed` no decision. */
export const HOOK_CALL_RESULTS = ['ok', 'failed'] as const;
export type HookCallResult = (typeof HOOK_CALL_RESULTS)[number];

/**
 * `herald_hook_failures_total{hook,reason}`: why a hook call gave no decision. The first five are
 * the outbound POST's (outbound/post.ts); `bad_answer` is a 2xx whose JSON has the wrong shape;
 * `breaker_open`, `queue_full` and `queue_timeout` never reached the backend.
 */
export const HOOK_FAILURE_REASONS = ['timeout', 'network', 'status', 'too_large', 'bad_json', 'bad_answer', 'breaker_open', 'queue_full', 'queue_timeout'] as const;
export type HookFailureReason = (typeof HOOK_FAILURE_REASONS)[number];

/**
 * `herald_webhook_events_total{type,outcome}` (docs/events.md): what happened to webhook events.
 * `rejected`: an attempt answered 4xx other than 408/429 (retried all the same).
 */
export const WEBHOOK_OUTCOMES = ['emitted', 'delivered', 'retried', 'rejected', 'dropped_retention', 'dropped_overflow'] as const;
export type WebhookOutcome = (typeof WEBHOOK_OUTCOMES)[number];
