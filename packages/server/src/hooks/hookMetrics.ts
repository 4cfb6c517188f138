/**
 * Metrics of the hooks in the path, per hook: calls, latency, failures by
 * reason, breaker state, calls in flight and waiting. The families are
 * always registered; a hook that is not configured has no series in them.
 */
import client from 'prom-client';
import { HOOK_NAMES, type HookCallResult, type HookFailureReason, type HookName } from '../observability/labels.js';
import type { BreakerState } from './breaker.js';
import { BREAKER_GAUGE } from './breaker.js';

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** What the metrics read from each configured hook at scrape time. */
export interface HookGauges {
  breaker(): BreakerState;
  inFlight(): number;
  queued(): number;
}

export class HookMetrics {
  private readonly calls: client.Counter<'hook' | 'result'>;
  private readonly failures: client.Counter<'hook' | 'reason'>;
  private readonly duration: client.Histogram<'hook'>;
  private readonly gauges = new Map<HookName, HookGauges>();

  constructor(registry: client.Registry) {
    const gauges = this.gauges;
    this.calls = new client.Counter({
      name: 'herald_hook_calls_total',
      help: 'Hook calls by hook and result (ok: the backend decided; failed: no decision, see herald_hook_failures_total).',
      labelNames: ['hook', 'result'],
      registers: [registry],
    });
    this.failures = new client.Counter({
      name: 'herald_hook_failures_total',
      help: 'Hook calls that gave no decision, by hook and reason.',
      labelNames: ['hook', 'reason'],
      registers: [registry],
    });
    this.duration = new client.Histogram({
      name: 'herald_hook_duration_seconds',
      help: 'Hook calls that reached the backend, request to answer, seconds.',
      labelNames: ['hook'],
      buckets: BUCKETS,
      registers: [registry],
    });
    const gauge = (name: string, help: string, read: (g: HookGauges) => number): void => {
      new client.Gauge({
        name,
        help,
        labelNames: ['hook'],
        registers: [registry],
        collect() {
          this.reset();
          for (const hook of HOOK_NAMES) {
            const g = gauges.get(hook);
            if (g) this.set({ hook }, read(g));
          }
        },
      });
    };
    gauge('herald_hook_breaker_state', 'Circuit breaker of each configured hook: 0 closed, 1 open, 2 half-open.', (g) => BREAKER_GAUGE[g.breaker()]);
    gauge('herald_hook_inflight', 'Hook calls in flight now.', (g) => g.inFlight());
    gauge('herald_hook_queued', 'Hook calls waiting for a free slot now.', (g) => g.queued());
  }

  register(hook: HookName, g: HookGauges): void {
    this.gauges.set(hook, g);
  }

  ok(hook: HookName, seconds: number): void {
    this.calls.inc({ hook, result: 'ok' satisfies HookCallResult });
    this.duration.observe({ hook }, seconds);
  }

  /** `seconds` is undefined for calls that never reached the backend. */
  failed(hook: HookName, reason: HookFailureReason, seconds?: number): void {
    this.calls.inc({ hook, result: 'failed' satisfies HookCallResult });
    this.failures.inc({ hook, reason });
    if (seconds !== undefined) this.duration.observe({ hook }, seconds);
  }
}
