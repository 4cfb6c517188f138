/**
 * A fetch-based Server-Sent Events reader for tests: parses the stream into
 * events (name, data, id, comments) as they arrive, with bounded waits.
 */
import { waitUntil } from '@herald/testkit';

export interface SseEvent {
  event: string;
  data: string;
  id: string | undefined;
}

export class SseReader {
  readonly events: SseEvent[] = [];
  comments = 0;
  status = 0;
  headers: Headers | undefined;
  /** The error body when the server answered with an HTTP error instead of a stream. */
  errorBody: { error?: { code: string; message: string; field?: string } } | undefined;
  ended = false;
  private readonly ctl = new AbortController();
  readonly done: Promise<void>;

  constructor(url: string, headers: Record<string, string> = {}) {
    this.done = this.run(url, headers).catch(() => {
      this.ended = true;
    });
  }

  private async run(url: string, headers: Record<string, string>): Promise<void> {
    const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: this.ctl.signal });
    this.status = res.status;
    this.headers = res.headers;
    if (!res.ok || !res.body) {
      this.errorBody = (await res.json()) as SseReader['errorBody'];
      this.ended = true;
      return;
    }
    const decoder = new TextDecoder();
    let buf = '';
    const reader = res.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        this.parse(buf.slice(0, i));
        buf = buf.slice(i + 2);
      }
    }
    this.ended = true;
  }

  private parse(block: string): void {
    let event = 'message';
    let id: string | undefined;
    const data: string[] = [];
    let any = false;
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) {
        this.comments++;
        continue;
      }
      const c = line.indexOf(':');
      const field = c < 0 ? line : line.slice(0, c);
      const value = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
      any = true;
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
      else if (field === 'id') id = value;
    }
    if (any) this.events.push({ event, data: data.join('\n'), id });
  }

  /** Frames (parsed data) of events named `name`. */
  frames(name = 'message'): Record<string, unknown>[] {
    return this.events.filter((e) => e.event === name).map((e) => JSON.parse(e.data) as Record<string, unknown>);
  }

  seqs(): number[] {
    return this.frames().flatMap((f) => (typeof f.seq === 'number' ? [f.seq] : []));
  }

  async waitFor(pred: (r: SseReader) => boolean, ms = 5000, what = 'sse condition'): Promise<void> {
    await waitUntil(() => (pred(this) ? true : undefined), ms, what);
  }

  async welcome(): Promise<Record<string, unknown>> {
    await this.waitFor((r) => r.frames('welcome').length > 0 || r.ended, 5000, 'welcome');
    const w = this.frames('welcome')[0];
    if (!w) throw new Error(`no welcome: status ${this.status} ${JSON.stringify(this.errorBody)}`);
    return w;
  }

  abort(): void {
    this.ctl.abort();
  }
}

export function sseUrl(base: string, q: Record<string, string>): string {
  return base + '/sse?' + new URLSearchParams(q).toString();
}
