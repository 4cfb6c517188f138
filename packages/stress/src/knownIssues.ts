/**
 * Server bugs the suite found and reported, by id. A violation tagged with one
 * is printed as KNOWN and fails the run only with `--strict`, so CI stays a
 * signal for new regressions while the fix is pending. Remove an entry when the
 * server is fixed: the check then fails hard again.
 */
// auth-timeout-linger (found by this suite, seed 2): fixed by closeTimeout in the gateway's
// WebSocketServer options; the preauth-flood check fails hard on it again.
export const KNOWN_ISSUES = {
  'amqp-dead-letter-twice':
    'RabbitMQ ingest dead letters are at least once: a connection lost (cut, node killed) after the broker confirmed the dead letter and before it received the ack of the original redelivers it, and it is dead-lettered a second time (same message_id). Found by the ingest scenario, seed 10. Exact needs an atomic publish+ack (AMQP tx, not offered with confirms) or a dead-letter record in the engine.',
} as const;

export type KnownIssue = keyof typeof KNOWN_ISSUES;
