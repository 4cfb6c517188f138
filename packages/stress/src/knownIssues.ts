/**
 * Server bugs the suite found and reported, by id. A violation tagged with one
 * is printed as KNOWN and fails the run only with `--strict`, so CI stays a
 * signal for new regressions while the fix is pending. Remove an entry when the
 * server is fixed: the check then fails hard again.
 */
export const KNOWN_ISSUES: Record<string, string> = {
  'auth-timeout-linger':
    'gateway.ts onTimer: a connection closed 4001 for the auth timeout is not scheduled for terminate(), so a peer that never answers the close keeps the socket (and a maxPendingAuth slot) for ws\'s 30 s closeTimeout',
};
