/** Small loopback HTTP client (node:http, no keep-alive: the runner holds no idle sockets on the nodes). */
import { request } from 'node:http';

export interface HttpResult {
  status: number;
  body: string;
}

export function httpRequest(port: number, method: string, path: string, opts: { body?: unknown; apiKey?: string; timeoutMs?: number } = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const payload = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
    const headers: Record<string, string> = { connection: 'close' };
    if (payload) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(payload.length);
    }
    if (opts.apiKey) headers.authorization = `Bearer ${opts.apiKey}`;
    const req = request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.setTimeout(opts.timeoutMs ?? 15_000, () => req.destroy(new Error(`HTTP ${method} ${path} timed out`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** Sums the samples of one Prometheus metric whose labels include every given pair. */
export function metricSum(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  let found = false;
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== '{' && rest[0] !== ' ') continue;
    const lbl = rest[0] === '{' ? rest.slice(1, rest.indexOf('}')) : '';
    if (!Object.entries(labels).every(([k, v]) => lbl.includes(`${k}="${v}"`))) continue;
    const v = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(v)) {
      found = true;
      sum += v;
    }
  }
  return found ? sum : undefined;
}
