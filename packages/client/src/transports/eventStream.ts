/**
 * Reading a Server-Sent Events stream, two ways behind one small interface:
 * the browser's EventSource, or a fetch-based reader (Node, and browsers
 * without EventSource). Neither reconnects by itself here: the client's own
 * reconnect loop (backoff, token refresh, last_seq) owns that, as for
 * WebSocket, so a stream that ends or fails is reported once and closed.
 */

export interface StreamHandlers {
  /** The HTTP answer was 200: the stream is open. */
  onOpen(): void;
  /** One event: its name (`message` when unnamed) and data. */
  onEvent(name: string, data: string): void;
  /** Anything arrived (an event or a comment heartbeat): the stream is alive. */
  onActivity(): void;
  /** The stream ended or failed; `status` and `body` when the server refused it with an HTTP error. */
  onEnd(refusal?: { status: number; body: string }): void;
}

export interface EventStream {
  close(): void;
}

/** Names the server gives events (frame types, plus `close`): EventSource needs a listener per name. */
export const EVENT_NAMES = ['welcome', 'message', 'reply', 'error', 'join', 'leave', 'state', 'pong', 'close'] as const;

export type EventSourceConstructor = new (url: string, init?: { withCredentials?: boolean }) => EventSourceLike;

export interface EventSourceLike {
  readonly readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  addEventListener(type: string, listener: (ev: { data?: unknown }) => void): void;
  close(): void;
}

/** A browser EventSource: an `error` without data is the connection failing (it would reconnect by itself: we stop it). */
export function openEventSource(Ctor: EventSourceConstructor, url: string, h: StreamHandlers): EventStream {
  const es = new Ctor(url);
  let ended = false;
  const end = (): void => {
    if (ended) return;
    ended = true;
    es.close();
    h.onEnd();
  };
  es.onopen = () => h.onOpen();
  for (const name of EVENT_NAMES) {
    es.addEventListener(name, (ev) => {
      if (ended) return;
      // `event: error` from the server carries data; the connection's own error event does not.
      if (typeof ev.data !== 'string') {
        if (name === 'error') end();
        return;
      }
      h.onActivity();
      h.onEvent(name, ev.data);
    });
  }
  es.onerror = (ev) => {
    if (typeof (ev as { data?: unknown }).data !== 'string') end();
  };
  return { close: () => ((ended = true), es.close()) };
}

export type FetchLike = (url: string, init: { headers: Record<string, string>; signal: AbortSignal; method?: string; body?: string }) => Promise<{
  ok: boolean;
  status: number;
  text(): Promise<string>;
  body: { getReader(): { read(): Promise<{ done: boolean; value?: Uint8Array }> } } | null;
}>;

/** A fetch-based reader: parses `event:`, `data:`, `id:` and comment lines as they arrive. */
export function openFetchStream(fetchFn: FetchLike, url: string, h: StreamHandlers): EventStream {
  const ctl = new AbortController();
  let ended = false;
  const end = (refusal?: { status: number; body: string }): void => {
    if (ended) return;
    ended = true;
    ctl.abort();
    h.onEnd(refusal);
  };
  void (async () => {
    const res = await fetchFn(url, { headers: { accept: 'text/event-stream' }, signal: ctl.signal });
    if (!res.ok || !res.body) {
      end({ status: res.status, body: await res.text().catch(() => '') });
      return;
    }
    h.onOpen();
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buf = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done || ended) break;
      buf += decoder.decode(value, { stream: true });
      let i: number;
      while (!ended && (i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        h.onActivity();
        parseBlock(block, h);
      }
    }
  })()
    .catch(() => undefined)
    .finally(() => end());
  return { close: () => ((ended = true), ctl.abort()) };
}

function parseBlock(block: string, h: StreamHandlers): void {
  let name = 'message';
  const data: string[] = [];
  for (const line of block.split('\n')) {
    if (line === '' || line.startsWith(':')) continue;
    const c = line.indexOf(':');
    const field = c < 0 ? line : line.slice(0, c);
    const value = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
    if (field === 'event') name = value;
    else if (field === 'data') data.push(value);
  }
  if (data.length > 0) h.onEvent(name, data.join('\n'));
}
