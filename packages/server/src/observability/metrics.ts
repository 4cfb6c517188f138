/**
 * Prometheus metrics (prom-client), all prefixed `herald_`, plus the default
 * process and Node.js metrics. Every series carries a `node` label.
 *
 * Hot-path counters are plain numbers in Stats, read at scrape time: a
 * fan-out never pays for labelled metric updates per recipient. The only
 * metric calls on the message path are histogram observations once per
 * fan-out (deliver latency) or per sampled ack (ack latency), and those two
 * histograms count into an array (CountingHistogram).
 *
 * Engine-specific series (ingest lag and pending entries, Redis round trip,
 * engine errors) come from the engine's optional `introspection.stats()`, read once
 * per scrape (see EngineStats). Engines without it (memory) export nothing
 * for them.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import client from 'prom-client';
import type { Stats, DeliveredTarget } from './stats.js';
import { AckClock } from './ackClock.js';
import { internalErrorCounts } from './lastResort.js';
import { collectDefaultMetrics } from './defaultMetrics.js';
import { CountingHistogram } from './countingHistogram.js';

import type { EngineStats } from '../engine/types.js';

export interface MetricsSources {
  stats: Stats;
  nodeId: string;
  connectionsByPlatform(): Record<string, number>;
  rooms(): number;
  users(): number;
  inboxDepth(): number | undefined;
  engineReady(): boolean;
  /** Engine counters (optional `engine.introspection.stats()`); undefined when the engine has none. */
  engineStats?(): EngineStats | Promise<EngineStats> | undefined;
  isDraining?(): boolean;
  /** One row per ingest source (docs/ingest.md); absent or empty: no herald_ingest_source_* series. */
  ingestSources?(): IngestSourceMetricsRow[];
}

/** What the per-source ingest series read (a subset of ingest/create.ts IngestSourceRow). */
export interface IngestSourceMetricsRow {
  kind: string;
  name: string;
  connected: boolean;
  consumed: number;
  deadLettered: number;
  redelivered: number;
  deadLetterUnconfirmed?: number;
  lag?: number;
}

export type Labels = Record<string, string>;

/** A counter whose value is read from elsewhere at scrape time. */
export function readCounter(registry: client.Registry, name: string, help: string, labelNames: string[], read: () => Iterable<[Labels, number]>): void {
  new client.Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, value] of read()) if (value > 0) this.inc(labels, value);
    },
  });
}

export function readGauge(registry: client.Registry, name: string, help: string, labelNames: string[], read: () => Iterable<[Labels, number]>): void {
  new client.Gauge({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, value] of read()) this.set(labels, value);
    },
  });
}

const TARGETS: DeliveredTarget[] = ['user', 'device', 'room', 'tenant', 'all'];
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const ENGINE_STATS_BUDGET_MS = 1000;
const LOOP_WINDOW_MS = 5000;

/** Event-loop delay over rolling 5 s windows (perf_hooks, 10 ms resolution). */
class LoopLag {
  private readonly h: IntervalHistogram = monitorEventLoopDelay({ resolution: 10 });
  private last: { mean: number; p99: number; max: number } | undefined;
  private readonly timer: NodeJS.Timeout;

  constructor() {
    this.h.enable();
    this.timer = setInterval(() => {
      this.last = this.read();
      this.h.reset();
    }, LOOP_WINDOW_MS);
    this.timer.unref();
  }

  private read(): { mean: number; p99: number; max: number } {
    // The histogram includes the sampling resolution itself; subtract it as prom-client does.
    const ns = (v: number): number => (Number.isFinite(v) ? Math.max(0, v / 1e9 - 0.01) : 0);
    return this.h.count > 0 ? { mean: ns(this.h.mean), p99: ns(this.h.percentile(99)), max: ns(this.h.max) } : { mean: 0, p99: 0, max: 0 };
  }

  /** Seconds: the last complete window, or the current one before the first completes. */
  snapshot(): { mean: number; p99: number; max: number } {
    return this.last ?? this.read();
  }

  stop(): void {
    clearInterval(this.timer);
    this.h.disable();
  }
}

export class Metrics {
  readonly registry = new client.Registry();
  /** Publish → socket write latency, seconds (once per ephemeral fan-out, once per live reliable delivery). */
  readonly deliverLatency: client.Histogram;
  /** Publish → device ack latency, seconds (sampled: see AckClock). */
  readonly ackLatency: client.Histogram;
  readonly connectionLifetime: client.Histogram;
  readonly ackClock: AckClock;
  readonly loopLag = new LoopLag();
  private engineSnapshot: EngineStats | undefined;

  constructor(private readonly src: MetricsSources) {
    const r = this.registry;
    r.setDefaultLabels({ node: src.nodeId });
    collectDefaultMetrics(r); // prom-client's, made promtool-clean (defaultMetrics.ts)
    const s = src.stats;
    const eng = (): EngineStats => this.engineSnapshot ?? {};
    const opt = (v: number | undefined): [Labels, number][] => (v === undefined ? [] : [[{}, v]]);

    // ---- connections
    readGauge(r, 'herald_connections', 'Open authenticated connections by platform.', ['platform'], () =>
      Object.entries(src.connectionsByPlatform()).map(([platform, n]) => [{ platform }, n]),
    );
    readGauge(r, 'herald_rooms', 'Rooms with at least one local member.', [], () => [[{}, src.rooms()]]);
    readGauge(r, 'herald_users', 'Users with at least one local connection.', [], () => [[{}, src.users()]]);
    readGauge(r, 'herald_engine_up', '1 when the storage engine is reachable.', [], () => [[{}, src.engineReady() ? 1 : 0]]);
    readGauge(r, 'herald_draining', '1 while the node drains for shutdown (/readyz answers 503).', [], () => [[{}, src.isDraining?.() ? 1 : 0]]);
    readCounter(r, 'herald_connects_total', 'Connections authenticated.', [], () => [[{}, s.connects]]);
    readCounter(r, 'herald_disconnects_total', 'Connections closed, by close code.', ['code'], () =>
      [...s.disconnects].map(([code, n]) => [{ code: String(code) }, n]),
    );
    readCounter(r, 'herald_auth_failures_total', 'Authentications refused (WebSocket handshakes, API bearer keys, admin logins), by reason.', ['reason'], () => [...s.authFailures].map(([reason, n]) => [{ reason }, n]));
    this.connectionLifetime = new client.Histogram({
      name: 'herald_connection_lifetime_seconds',
      help: 'How long authenticated connections stayed open, seconds.',
      buckets: [1, 10, 60, 300, 1800, 3600, 6 * 3600, 24 * 3600],
      registers: [r],
    });

    // ---- messages
    readCounter(r, 'herald_messages_published_total', 'Messages accepted for delivery, by target kind.', ['target', 'reliable'], () =>
      [...s.published].map(([k, n]) => {
        const [target = '', reliable = ''] = k.split('|');
        return [{ target, reliable }, n];
      }),
    );
    readCounter(r, 'herald_messages_delivered_total', 'Frames written to devices, by kind (reliable|ephemeral) and route kind.', ['kind', 'target'], () => [
      ...TARGETS.map((target): [Labels, number] => [{ kind: 'reliable', target }, s.deliveredReliableTo[target]]),
      ...TARGETS.map((target): [Labels, number] => [{ kind: 'ephemeral', target }, s.deliveredEphemeralTo[target]]),
    ]);
    readCounter(r, 'herald_messages_replayed_total', 'Reliable messages written from the inbox (resume, gaps).', [], () => [[{}, s.replayed]]);
    // Acks, retries and expiry concern reliable messages only, which all live in a user's inbox.
    readCounter(r, 'herald_messages_acked_total', 'Reliable messages acked by devices (target is always the user inbox).', ['target'], () => [[{ target: 'user' }, s.acked]]);
    readCounter(r, 'herald_messages_retried_total', 'Reliable messages resent after an ack timeout.', ['target'], () => [[{ target: 'user' }, s.retried]]);
    readCounter(r, 'herald_messages_expired_total', 'Reliable messages whose ttl ran out before delivery.', ['target'], () => [[{ target: 'user' }, s.expired + (eng().expired ?? 0)]]);
    readGauge(r, 'herald_inbox_messages', 'Reliable messages held in inboxes.', [], () => {
      const d = src.inboxDepth() ?? eng().inboxMessages;
      return d === undefined ? [] : [[{}, d]];
    });
    // Observed once per delivery (and per sampled ack): counted cheaply, exported as prom-client's.
    this.deliverLatency = new CountingHistogram({
      name: 'herald_deliver_latency_seconds',
      help: 'Publish to socket write, seconds.',
      buckets: LATENCY_BUCKETS,
      registers: [r],
    });
    this.ackLatency = new CountingHistogram({
      name: 'herald_ack_latency_seconds',
      help: 'Publish to device ack of a reliable message, seconds (sampled: acks of the newest message of a user).',
      buckets: LATENCY_BUCKETS,
      registers: [r],
    });
    this.ackClock = new AckClock((sec) => this.ackLatency.observe(sec));

    // ---- API, protocol, limits
    readCounter(r, 'herald_http_requests_total', 'HTTP API requests, by route and status.', ['route', 'status'], () =>
      [...s.http].map(([k, n]) => {
        const [route = '', status = ''] = k.split('|');
        return [{ route, status }, n];
      }),
    );
    readCounter(r, 'herald_protocol_errors_total', 'Client frames refused, by error code.', ['code'], () => [...s.protocolErrors].map(([code, n]) => [{ code }, n]));
    readCounter(r, 'herald_limit_rejections_total', 'Requests, frames or connections refused by a limit, by limit.', ['limit'], () =>
      [...s.limitRejections].map(([limit, n]) => [{ limit }, n]),
    );
    // Process-wide (observability/lastResort.ts): failures only a guard caught — each one a bug.
    readCounter(r, 'herald_uncaught_errors_total', 'Unexpected failures caught by a guard, by kind (frame_handler, uncaught_exception, unhandled_rejection).', ['kind'], () =>
      [...internalErrorCounts()].map(([kind, n]) => [{ kind }, n]),
    );

    // ---- engine (optional engine.introspection.stats())
    readGauge(r, 'herald_ingest_lag_seconds', 'Age of the oldest ingest entry not yet acked, seconds.', [], () => opt(eng().ingestLagSeconds));
    readGauge(r, 'herald_ingest_pending_entries', 'Ingest entries delivered to the consumer group and not yet acked.', [], () => opt(eng().ingestPending));
    readGauge(r, 'herald_ingest_backlog_entries', 'Ingest entries not yet read by the consumer group.', [], () => opt(eng().ingestBacklog));
    readCounter(r, 'herald_ingest_dead_lettered_total', 'Ingest entries moved to the dead-letter stream.', [], () => opt(eng().ingestDeadLettered));
    readGauge(r, 'herald_redis_rtt_seconds', 'Most recent Redis round-trip time, seconds.', [], () => opt(eng().redisRttSeconds));
    readCounter(r, 'herald_engine_errors_total', 'Engine (storage/transport) errors, by operation.', ['op'], () =>
      Object.entries(eng().errors ?? {}).map(([op, n]) => [{ op }, n]),
    );

    // ---- ingest sources, labelled kind (redis|amqp|nats|pg) and name (stream, queue, subject, table)
    const rows = (): IngestSourceMetricsRow[] => src.ingestSources?.() ?? [];
    const per = (v: (x: IngestSourceMetricsRow) => number | undefined): [Labels, number][] =>
      rows().flatMap((x) => {
        const n = v(x);
        return n === undefined ? [] : [[{ kind: x.kind, name: x.name }, n] as [Labels, number]];
      });
    readGauge(r, 'herald_ingest_source_connected', '1 while the ingest source is connected to its broker or database.', ['kind', 'name'], () => per((x) => (x.connected ? 1 : 0)));
    readCounter(r, 'herald_ingest_source_consumed_total', 'Ingest entries published and acknowledged, by source.', ['kind', 'name'], () => per((x) => x.consumed));
    readCounter(r, 'herald_ingest_source_dead_lettered_total', 'Ingest entries sent to the dead letter, by source.', ['kind', 'name'], () => per((x) => x.deadLettered));
    readCounter(r, 'herald_ingest_source_redelivered_total', 'Ingest entries seen again after a failed or unacknowledged delivery, by source.', ['kind', 'name'], () =>
      per((x) => x.redelivered),
    );
    readCounter(r, 'herald_ingest_source_dead_letter_unconfirmed_total', 'Dead letters neither confirmed nor refused by the broker (possibly dead-lettered twice), by source.', ['kind', 'name'], () =>
      per((x) => x.deadLetterUnconfirmed),
    );
    readGauge(r, 'herald_ingest_source_lag_entries', 'Ingest entries waiting in the broker, by source (when the broker tells cheaply).', ['kind', 'name'], () => per((x) => x.lag));

    // ---- runtime
    readGauge(r, 'herald_event_loop_lag_seconds', 'Event-loop delay over the last 5 s window, seconds, by statistic (mean, p99, max).', ['stat'], () => {
      const l = this.loopLag.snapshot();
      return [
        [{ stat: 'mean' }, l.mean],
        [{ stat: 'p99' }, l.p99],
        [{ stat: 'max' }, l.max],
      ];
    });
  }

  /** Reads the engine's optional stats once (bounded), for this scrape. */
  async refreshEngineStats(): Promise<EngineStats | undefined> {
    const read = this.src.engineStats;
    if (!read) return undefined;
    try {
      const v = read();
      const got = v instanceof Promise ? await Promise.race([v, new Promise<undefined>((r) => setTimeout(() => r(undefined), ENGINE_STATS_BUDGET_MS).unref())]) : v;
      // A slow engine keeps the previous snapshot rather than dropping the series.
      if (got !== undefined) this.engineSnapshot = got;
    } catch {
      // Engine unreachable: herald_engine_up says so; keep the last snapshot.
    }
    return this.engineSnapshot;
  }

  async render(): Promise<{ contentType: string; body: string }> {
    await this.refreshEngineStats();
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  stop(): void {
    this.loopLag.stop();
  }
}
