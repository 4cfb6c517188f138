/** Run sizes: `short` for CI (≤ 4 min on 2 cores), `long` for a soak run. */
export interface Profile {
  name: 'short' | 'long';
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
}

export const PROFILES: Record<Profile['name'], Profile> = {
  short: { name: 'short', nodes: 2, devices: 24, users: 12, publishRate: 40, phaseMs: 4000, rounds: 2, floodConnections: 150, deliveryTimeoutMs: 30_000, settleMs: 2000, iterations: 1 },
  long: { name: 'long', nodes: 3, devices: 300, users: 100, publishRate: 200, phaseMs: 20_000, rounds: 5, floodConnections: 1500, deliveryTimeoutMs: 90_000, settleMs: 10_000, iterations: 3 },
};
