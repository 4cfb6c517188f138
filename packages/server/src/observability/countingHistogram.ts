/**
 * An unlabelled prom-client histogram whose observe() only counts into an
 * array: prom-client's own observe costs 1.2–1.3 µs per call (a closure, two
 * objects, label validation and hashing, and a float-to-string bucket key),
 * and the deliver-latency histogram is observed once per unicast delivery
 * (docs/benchmarks.md, issue 20). The counts are written into prom-client's
 * state whenever the metric is read (its `collect` hook: every /metrics scrape
 * and the admin page), so what is exported — names, buckets, counts, and the
 * sum, added up in the same order — is exactly what client.Histogram gives.
 */
import client from 'prom-client';

interface Entry {
  labels: Record<string, never>;
  bucketValues: Record<string, number>;
  sum: number;
  count: number;
}

export interface CountingHistogramConfig {
  name: string;
  help: string;
  buckets: number[];
  registers: client.Registry[];
}

export class CountingHistogram extends client.Histogram {
  private readonly bounds: number[];
  /** Observations per bucket (not cumulative), index as `bounds`; those over the last bound only count. */
  private readonly counts: Float64Array;
  private total = 0;
  private sum = 0;
  /** Whether the series exists: from the start, gone after reset() until the next observation (as in prom-client). */
  private present = true;

  constructor(cfg: CountingHistogramConfig) {
    super(cfg);
    this.bounds = [...cfg.buckets]; // in prom-client's order: its bucket is the first bound ≥ the value
    this.counts = new Float64Array(this.bounds.length);
    const fallback = this.observe.bind(this) as (a: unknown, b?: unknown) => void;
    // An own property, as prom-client sets its own observe in its constructor. Anything but a
    // finite number (with no labels) goes to prom-client's, which throws for it without counting.
    this.observe = ((a: unknown, b?: unknown): void => {
      if (typeof a === 'number' && b === undefined && Number.isFinite(a)) this.add(a);
      else if (typeof b === 'number' && Number.isFinite(b) && a !== null && typeof a === 'object' && Object.keys(a).length === 0) this.add(b);
      else fallback(a, b);
    }) as client.Histogram['observe'];
    (this as unknown as { collect: () => void }).collect = () => this.fold();
  }

  private add(v: number): void {
    const bounds = this.bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (v <= bounds[i]!) {
        this.counts[i]!++;
        break;
      }
    }
    this.sum += v;
    this.total++;
    this.present = true;
  }

  /** Writes the counts into prom-client's series, which get() then exports as usual. */
  private fold(): void {
    const self = this as unknown as { hashMap: Record<string, Entry> };
    if (!this.present) return;
    const bucketValues: Record<string, number> = {};
    for (let i = 0; i < this.bounds.length; i++) bucketValues[this.bounds[i]!] = this.counts[i]!;
    self.hashMap[''] = { labels: {}, bucketValues, sum: this.sum, count: this.total };
  }

  override reset(): void {
    super.reset();
    // Also called by prom-client's constructor, before this class's fields exist.
    if (this.counts === undefined) return;
    this.counts.fill(0);
    this.sum = 0;
    this.total = 0;
    this.present = false;
  }

  override zero(labels: Record<string, never>): void {
    super.zero(labels);
    this.counts.fill(0);
    this.sum = 0;
    this.total = 0;
    this.present = true;
  }
}
