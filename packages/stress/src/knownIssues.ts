/**
 * Server bugs the suite found and reported, by id. A violation tagged with one
 * is printed as KNOWN and fails the run only with `--strict`, so CI stays a
 * signal for new regressions while the fix is pending. Remove an entry when the
 * server is fixed: the check then fails hard again.
 */
export const KNOWN_ISSUES = {
  'auth-timeout-linger':
    "packages/server/src/gateway/gateway.ts: sockets the server closes before authentication (4001 auth timeout in onTimer(), 4005 admission refusal) are never terminated, so a peer that ignores the close keeps the socket for ws's 30 s closeTimeout (4001 ones also hold a maxPendingAuth slot; 4005 ones are outside every limit). Fix: closeTimeout: 2000 in the WebSocketServer options",
} as const;

export type KnownIssue = keyof typeof KNOWN_ISSUES;
