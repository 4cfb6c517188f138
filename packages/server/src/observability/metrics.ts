/**
 * Prometheus metrics (prom-client), all prefixed `herald_`, plus the default
 * process and Node.js metrics. Counters are read from Stats at scrape time.
 */
import client from 'prom-client';
import type { Stats } from './stats.js';

export interface MetricsSources {
  stats: Stats;
  nodeId: string;
  connectionsByPlatform(): Record<string, number>;
  rooms(): number;
  users(): number;
  inboxDepth(): number | undefined;
  engineReady(): boolean;
}

type Labels = Record<string, string>;

/** A counter whose value is read from elsewhere at scrape time. */
function readCounter(registry: client.Registry, name: string, help: string, labelNames: string[], read: () => Iterable<[Labels, number]>): void {
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

function readGauge(registry: client.Registry, name: string, help: string, labelNames: string[], read: () => Iterable<[Labels, number]>): void {
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

export class Metrics {
  readonly registry = new client.Registry();
  /** Publish → local write latency, seconds (observed once per fan-out, and per reliable delivery). */
  readonly deliverLatency: client.Histogram;
  readonly connectionLifetime: client.Histogram;

  constructor(src: MetricsSources) {
    const r = this.registry;
    r.setDefaultLabels({ node: src.nodeId });
    client.collectDefaultMetrics({ register: r });
    const s = src.stats;
    readGauge(r, 'herald_connections', 'Open authenticated connections by platform.', ['platform'], () =>
      Object.entries(src.connectionsByPlatform()).map(([platform, n]) => [{ platform }, n]),
    );
    readGauge(r, 'herald_rooms', 'Rooms with at least one local member.', [], () => [[{}, src.rooms()]]);
    readGauge(r, 'herald_users', 'Users with at least one local connection.', [], () => [[{}, src.users()]]);
    readGauge(r, 'herald_engine_up', '1 when the storage engine is reachable.', [], () => [[{}, src.engineReady() ? 1 : 0]]);
    readGauge(r, 'herald_inbox_messages', 'Reliable messages held in inboxes (memory engine).', [], () => {
      const d = src.inboxDepth();
      return d === undefined ? [] : [[{}, d]];
    });
    readCounter(r, 'herald_connects_total', 'Connections authenticated.', [], () => [[{}, s.connects]]);
    readCounter(r, 'herald_disconnects_total', 'Connections closed, by close code.', ['code'], () =>
      [...s.disconnects].map(([code, n]) => [{ code: String(code) }, n]),
    );
    readCounter(r, 'herald_auth_failures_total', 'Handshakes refused, by reason.', ['reason'], () => [...s.authFailures].map(([reason, n]) => [{ reason }, n]));
    readCounter(r, 'herald_messages_published_total', 'Messages accepted for delivery, by target kind.', ['target', 'reliable'], () =>
      [...s.published].map(([k, n]) => {
        const [target = '', reliable = ''] = k.split('|');
        return [{ target, reliable }, n];
      }),
    );
    readCounter(r, 'herald_messages_delivered_total', 'Frames written to devices, by kind.', ['kind'], () => [
      [{ kind: 'reliable' }, s.deliveredReliable],
      [{ kind: 'ephemeral' }, s.deliveredEphemeral],
    ]);
    readCounter(r, 'herald_messages_replayed_total', 'Reliable messages written from the inbox (resume, gaps).', [], () => [[{}, s.replayed]]);
    readCounter(r, 'herald_messages_acked_total', 'Reliable messages acked by devices.', [], () => [[{}, s.acked]]);
    readCounter(r, 'herald_messages_retried_total', 'Reliable messages resent after an ack timeout.', [], () => [[{}, s.retried]]);
    readCounter(r, 'herald_http_requests_total', 'HTTP API requests, by route and status.', ['route', 'status'], () =>
      [...s.http].map(([k, n]) => {
        const [route = '', status = ''] = k.split('|');
        return [{ route, status }, n];
      }),
    );
    readCounter(r, 'herald_protocol_errors_total', 'Client frames refused, by error code.', ['code'], () => [...s.protocolErrors].map(([code, n]) => [{ code }, n]));
    this.deliverLatency = new client.Histogram({
      name: 'herald_deliver_latency_seconds',
      help: 'Publish to socket write, seconds.',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [r],
    });
    this.connectionLifetime = new client.Histogram({
      name: 'herald_connection_lifetime_seconds',
      help: 'How long connections stayed open, seconds.',
      buckets: [1, 10, 60, 300, 1800, 3600, 6 * 3600, 24 * 3600],
      registers: [r],
    });
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
