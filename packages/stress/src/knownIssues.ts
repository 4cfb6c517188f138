/**
 * Server bugs the suite found and reported, by id. A violation tagged with one
 * is printed as KNOWN and fails the run only with `--strict`, so CI stays a
 * signal for new regressions while the fix is pending. Remove an entry when the
 * server is fixed: the check then fails hard again.
 */
// auth-timeout-linger (found by this suite, seed 2): fixed by closeTimeout in the gateway's
// WebSocketServer options; the preauth-flood check fails hard on it again.
// amqp-dead-letter-twice (found by ingest, seed 10): fixed by a dead-letter mark in the engine,
// written after the broker's confirm and before the ack (server src/ingest/amqpDeadMarks.ts); the
// dead-letters-exact check fails hard on it again.
export const KNOWN_ISSUES = {} as const;

export type KnownIssue = keyof typeof KNOWN_ISSUES;
