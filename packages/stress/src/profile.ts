/** Run sizes: `short` for CI (≤ 4 min on 2 cores), `long` for a longer run, `soak` for the timed soak (src/soak). */
export interface Profile {
  name: 'short' | 'long' | 'soak';
  /** Herald nodes in the cluster. */
  nodes: number;
  /** SDK devices per load scenario. */
  devices: number;
  /** Users those devices belong to (several devices per user). */
  users: number;
  /** Reliable publishes per second during a scenario. */
  publishRate: number;
  /** Length of the loaded phase of a scenario, ms. */
  phaseMs: number;
  /** Repetitions of storm-type faults within a scenario. */
  rounds: number;
  /** Raw connections in the pre-auth flood. */
  floodConnections: number;
  /** Time allowed for all owed messages to arrive after a scenario's faults end, ms. */
  deliveryTimeoutMs: number;
  /** Settle time before the memory check, ms. */
  settleMs: number;
  /** Repeat the whole scenario list this many times (memory growth across rounds). */
  iterations: number;
  /** Share of SDK devices speaking the binary protocol v2 (seeded per device), 0..1. */
  binaryShare: number;
  /** The last node runs `herald serve --workers N` (N ≥ 2); 0: every node is a single process. */
  workers: number;
  /** Extra HERALD_* settings for every node of this profile (on top of the suite's defaults). */
  env?: Record<string, string>;
}

export const PROFILES: Record<Profile['name'], Profile> = {
  short: { name: 'short', nodes: 2, devices: 24, users: 12, publishRate: 40, phaseMs: 4000, rounds: 2, floodConnections: 150, deliveryTimeoutMs: 30_000, settleMs: 2000, iterations: 1, binaryShare: 0.3, workers: 2 },
  long: { name: 'long', nodes: 3, devices: 300, users: 100, publishRate: 200, phaseMs: 20_000, rounds: 5, floodConnections: 1500, deliveryTimeoutMs: 90_000, settleMs: 10_000, iterations: 3, binaryShare: 0.3, workers: 2 },
  // One soak period: `phaseMs` of mixed load with `rounds` faults, then the invariant checks; repeated until the
  // soak's duration is over (iterations is unused). Inboxes expire after 5 min so Redis memory can level off.
  soak: { name: 'soak', nodes: 3, devices: 120, users: 40, publishRate: 40, phaseMs: 120_000, rounds: 3, floodConnections: 0, deliveryTimeoutMs: 90_000, settleMs: 3000, iterations: 1, binaryShare: 0.3, workers: 2, env: { HERALD_INBOX_MAX_AGE_SEC: '300' } },
};
