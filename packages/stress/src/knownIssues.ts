/**
 * Server bugs the suite found and reported, by id. A violation tagged with one
 * is printed as KNOWN and fails the run only with `--strict`, so CI stays a
 * signal for new regressions while the fix is pending. Remove an entry when the
 * server is fixed: the check then fails hard again.
 */
export const KNOWN_ISSUES = {
  'auth-timeout-linger':
    "packages/server/src/gateway/gateway.ts onTimer(): a connection closed 4001 for the auth timeout is never scheduled for terminate(), so a peer that ignores the close keeps its socket (and a maxPendingAuth slot) for ws's 30 s closeTimeout",
} as const;

export type KnownIssue = keyof typeof KNOWN_ISSUES;
