/**
 * Hot-path counters as plain numbers: a fan-out to 5,000 sockets must not pay
 * for 5,000 labelled metric updates. metrics.ts reads these at scrape time.
 */
export class Stats {
  connects = 0;
  readonly disconnects = new Map<number, number>();
  readonly authFailures = new Map<string, number>();
  /** key: `${target}|${reliable}` */
  readonly published = new Map<string, number>();
  deliveredReliable = 0;
  deliveredEphemeral = 0;
  replayed = 0;
  acked = 0;
  retried = 0;
  ackTimeouts = 0;
  /** key: `${route}|${status}` */
  readonly http = new Map<string, number>();
  readonly protocolErrors = new Map<string, number>();

  bump<K>(map: Map<K, number>, key: K, by = 1): void {
    map.set(key, (map.get(key) ?? 0) + by);
  }
}
