/** Reads Prometheus text exposition for the ops tests. */
import type { HeraldNode } from '../../src/node.js';

export interface Series {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export function parseMetrics(text: string): Series[] {
  const out: Series[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    if (m[2]) for (const l of m[2].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

export class Scrape {
  constructor(
    readonly text: string,
    readonly series: Series[] = parseMetrics(text),
  ) {}

  /** Sum of the series named `name` whose labels include `labels`. */
  value(name: string, labels: Record<string, string> = {}): number {
    let sum = 0;
    for (const s of this.series) {
      if (s.name !== name) continue;
      if (Object.entries(labels).every(([k, v]) => s.labels[k] === v)) sum += s.value;
    }
    return sum;
  }

  has(name: string, labels: Record<string, string> = {}): boolean {
    return this.series.some((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  }

  /** True when the family is declared (# TYPE line), even without samples. */
  declares(family: string): boolean {
    return this.text.includes(`# TYPE ${family} `);
  }
}

export async function scrape(node: Pick<HeraldNode, 'url'>): Promise<Scrape> {
  const res = await fetch(node.url + '/metrics');
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  return new Scrape(await res.text());
}

/** Scrapes until `check` passes (bounded); returns the passing scrape. */
export async function scrapeUntil(node: Pick<HeraldNode, 'url'>, check: (s: Scrape) => boolean, what: string, ms = 5000): Promise<Scrape> {
  const deadline = Date.now() + ms;
  let last: Scrape | undefined;
  for (;;) {
    last = await scrape(node);
    if (check(last)) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
