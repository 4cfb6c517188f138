/**
 * Samples a server's memory and CPU. RSS and CPU come from /proc when the pid
 * is known (the same measurement for every target); the V8 heap is only
 * visible from inside, so it comes from the bench servers' GET /stats or
 * Herald's Prometheus GET /metrics.
 */
import { request } from 'node:http';
import { nowMs } from './clock.js';
import { readProc } from './procstat.js';

export interface ProbeSample {
  atMs: number;
  rssBytes?: number;
  heapUsedBytes?: number;
  cpuSeconds?: number;
}

export interface ProbeOptions {
  httpBase: string;
  pid?: number;
  /** 'stats' for the bench servers, 'metrics' for Herald. */
  heapSource: 'stats' | 'metrics' | 'none';
  apiKey?: string;
}

function get(url: URL, headers: Record<string, string>, timeoutMs: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'GET', headers, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** Value of an unlabelled (or first labelled) Prometheus sample. */
export function promValue(text: string, name: string): number | undefined {
  const re = new RegExp(`^${name}(?:\\{[^}]*\\})?\\s+([0-9.eE+-]+)`, 'm');
  const m = re.exec(text);
  return m && m[1] !== undefined ? Number(m[1]) : undefined;
}

export class ServerProbe {
  constructor(private readonly o: ProbeOptions) {}

  /**
   * `heap: false` reads /proc only (when the pid is known; else the request is the only source).
   * The measured phase samples that way: the heap needs a request
   * the server answers on its own event loop (Herald renders its whole Prometheus registry, the
   * bench servers a short JSON), which would perturb what is being measured, and unequally.
   */
  async sample(opts: { heap?: boolean } = {}): Promise<ProbeSample> {
    const s: ProbeSample = { atMs: nowMs() };
    if (this.o.pid !== undefined) {
      try {
        const p = readProc(this.o.pid, s.atMs);
        s.rssBytes = p.rssBytes;
        s.cpuSeconds = p.cpuSeconds;
      } catch {
        // process gone: leave the fields empty
      }
    }
    if (opts.heap === false && this.o.pid !== undefined) return s;
    try {
      if (this.o.heapSource === 'stats') {
        const r = await get(new URL('/stats', this.o.httpBase), {}, 5000);
        const j = JSON.parse(r.body) as { rss?: number; heapUsed?: number };
        s.heapUsedBytes = j.heapUsed;
        s.rssBytes ??= j.rss;
      } else if (this.o.heapSource === 'metrics') {
        const headers: Record<string, string> = this.o.apiKey ? { authorization: `Bearer ${this.o.apiKey}` } : {};
        const r = await get(new URL('/metrics', this.o.httpBase), headers, 5000);
        if (r.status === 200) {
          s.heapUsedBytes = promValue(r.body, 'nodejs_heap_size_used_bytes');
          s.rssBytes ??= promValue(r.body, 'process_resident_memory_bytes');
        }
      }
    } catch {
      // heap is best effort; RSS from /proc is the primary figure
    }
    return s;
  }
}

export interface ProcessSample {
  url: string;
  pid?: number;
  rssBytes?: number;
  heapUsedBytes?: number;
  cpuSeconds?: number;
}

export interface MultiSample extends ProbeSample {
  /** One entry per server process, in the order given; the top-level figures are their sums. */
  processes: ProcessSample[];
}

const sum = (xs: Array<number | undefined>): number | undefined => (xs.length > 0 && xs.every((x) => x !== undefined) ? xs.reduce<number>((a, x) => a + (x as number), 0) : undefined);

/** Samples several server processes (nodes) at once; RSS, heap and CPU are summed, each process kept too. */
export class MultiProbe {
  private readonly probes: ServerProbe[];
  constructor(private readonly nodes: Array<Omit<ProbeOptions, 'heapSource' | 'apiKey'>>, heapSource: ProbeOptions['heapSource'], apiKey?: string) {
    this.probes = nodes.map((n) => new ServerProbe({ ...n, heapSource, ...(apiKey !== undefined ? { apiKey } : {}) }));
  }

  /** See ServerProbe.sample. */
  async sample(opts: { heap?: boolean } = {}): Promise<MultiSample> {
    const atMs = nowMs();
    const all = await Promise.all(this.probes.map((p) => p.sample(opts)));
    return combineSamples(
      atMs,
      all.map((s, i) => ({ url: this.nodes[i]?.httpBase ?? '', ...(this.nodes[i]?.pid !== undefined ? { pid: this.nodes[i]?.pid } : {}), ...pickDefined(s) })),
    );
  }
}

function pickDefined(s: ProbeSample): Omit<ProcessSample, 'url'> {
  const o: Omit<ProcessSample, 'url'> = {};
  if (s.rssBytes !== undefined) o.rssBytes = s.rssBytes;
  if (s.heapUsedBytes !== undefined) o.heapUsedBytes = s.heapUsedBytes;
  if (s.cpuSeconds !== undefined) o.cpuSeconds = s.cpuSeconds;
  return o;
}

/** Sums per-process samples; a figure missing in any process is missing in the sum. */
export function combineSamples(atMs: number, processes: ProcessSample[]): MultiSample {
  const out: MultiSample = { atMs, processes };
  const rss = sum(processes.map((p) => p.rssBytes));
  const heap = sum(processes.map((p) => p.heapUsedBytes));
  const cpu = sum(processes.map((p) => p.cpuSeconds));
  if (rss !== undefined) out.rssBytes = rss;
  if (heap !== undefined) out.heapUsedBytes = heap;
  if (cpu !== undefined) out.cpuSeconds = cpu;
  return out;
}
