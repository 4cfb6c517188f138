/**
 * The SSE transport dressed as a WebSocket: the client's connection state
 * machine (auth, welcome, acks, heartbeats, requests, reconnects) runs over
 * it unchanged. Server → client frames arrive as events on `GET /sse`;
 * client → server frames go over HTTP with the same token:
 *   - `ack`  → `POST /sse/ack` `{"device","seq"}`
 *   - `ping` → answered here while the stream is alive (the server's comment
 *              heartbeats prove it; EventSource cannot see comments, so there
 *              an open stream counts)
 *   - `auth` before the stream → the token the stream is opened with
 *   - anything else → `POST /sse/frame` `{"device","frame"}`; its reply comes
 *              on the stream, a refused POST becomes an `error` frame.
 * An `event: close` from the server becomes the close code the client sees.
 */
import { openEventSource, openFetchStream, type EventSourceConstructor, type EventStream, type FetchLike } from './eventStream.js';
import type { WebSocketConstructor, WebSocketLike } from '../socket.js';

type Handler<E> = { bivarianceHack(event: E): void }['bivarianceHack'];

export interface SseTransportConfig {
  /** fetch for the stream (when no EventSource) and the POSTs; defaults to globalThis.fetch. */
  fetch?: FetchLike;
  /** The browser's EventSource; defaults to globalThis.EventSource when present, else the fetch reader. */
  EventSource?: EventSourceConstructor | null;
}

const ABNORMAL = 1006;
const CONNECTING = 0;
const OPEN = 1;
const CLOSED = 3;

/** `ws(s)://host/ws?…` → `http(s)://host/sse?…` (the same query: token, device, platform, last_seq). */
export function sseUrlOf(wsUrl: string): URL {
  const u = new URL(wsUrl);
  u.protocol = u.protocol === 'wss:' ? 'https:' : u.protocol === 'ws:' ? 'http:' : u.protocol;
  u.pathname = u.pathname.replace(/\/ws$/, '') + '/sse';
  return u;
}

export function sseSocketConstructor(cfg: SseTransportConfig = {}): WebSocketConstructor {
  const fetchFn = cfg.fetch ?? ((globalThis as { fetch?: FetchLike }).fetch as FetchLike);
  const ES = cfg.EventSource === null ? undefined : (cfg.EventSource ?? (globalThis as { EventSource?: EventSourceConstructor }).EventSource);

  return class SseSocket implements WebSocketLike {
    readyState = CONNECTING;
    onopen: Handler<unknown> | null = null;
    onmessage: Handler<{ data: unknown }> | null = null;
    onclose: Handler<{ code: number; reason: string }> | null = null;
    onerror: Handler<unknown> | null = null;
    private readonly url: URL;
    private token: string | null;
    private device = '';
    private stream: EventStream | undefined;
    private closeFrame: { code: number; reason: string } | undefined;
    private lastActivity = Date.now();
    private streaming = false;

    constructor(url: string) {
      this.url = sseUrlOf(url);
      this.token = this.url.searchParams.get('token');
      // Like a WebSocket, "open" comes asynchronously; the client then sends its auth frame (or waits for the welcome).
      queueMicrotask(() => {
        if (this.readyState !== CONNECTING) return;
        this.readyState = OPEN;
        // A token in the URL starts the stream now; else the client's auth frame (sent from onopen) does.
        if (this.token !== null) this.start();
        this.onopen?.({});
      });
    }

    send(data: string | Uint8Array): void {
      if (this.readyState !== OPEN) return;
      let frame: { type?: string; id?: string; seq?: number; token?: string };
      try {
        frame = JSON.parse(typeof data === 'string' ? data : new TextDecoder().decode(data)) as typeof frame;
      } catch {
        return;
      }
      if (frame.type === 'auth' && !this.streaming && typeof frame.token === 'string') {
        this.token = frame.token;
        this.start();
        return;
      }
      if (frame.type === 'ping') {
        if (this.alive()) this.deliver('{"type":"pong"}');
        return;
      }
      if (frame.type === 'ack') return void this.post('/sse/ack', { device: this.device, seq: frame.seq }, undefined);
      void this.post('/sse/frame', { device: this.device, frame }, frame.id);
    }

    close(code = 1000, reason = ''): void {
      if (this.readyState === CLOSED) return;
      this.stream?.close();
      this.finish(code, reason);
    }

    private start(): void {
      this.streaming = true;
      const url = new URL(this.url);
      url.searchParams.set('token', this.token ?? '');
      const h = {
        onOpen: () => (this.lastActivity = Date.now()),
        onActivity: () => (this.lastActivity = Date.now()),
        onEvent: (name: string, data: string) => this.onEvent(name, data),
        onEnd: (refusal?: { status: number; body: string }) => this.onEnd(refusal),
      };
      this.stream = ES ? openEventSource(ES, url.toString(), h) : openFetchStream(fetchFn, url.toString(), h);
    }

    private onEvent(name: string, data: string): void {
      if (name === 'close') {
        try {
          this.closeFrame = JSON.parse(data) as { code: number; reason: string };
        } catch {
          this.closeFrame = { code: ABNORMAL, reason: 'bad close event' };
        }
        return;
      }
      if (name === 'welcome') {
        try {
          this.device = (JSON.parse(data) as { device: string }).device;
        } catch {
          // the client reports a bad welcome itself
        }
      }
      this.deliver(data);
    }

    /** The stream ended: the server's close event, its HTTP refusal as the matching close code, else 1006. */
    private onEnd(refusal?: { status: number; body: string }): void {
      if (this.readyState === CLOSED) return;
      if (this.closeFrame) return this.finish(this.closeFrame.code, this.closeFrame.reason);
      if (refusal) return this.finish(closeCodeOfStatus(refusal.status), messageOf(refusal.body));
      this.finish(ABNORMAL, 'event stream ended');
    }

    private finish(code: number, reason: string): void {
      this.readyState = CLOSED;
      // Asynchronous like a WebSocket's close event: never re-entrant in the caller's close().
      setTimeout(() => this.onclose?.({ code, reason }), 0);
    }

    private deliver(data: string): void {
      if (this.readyState === OPEN) this.onmessage?.({ data });
    }

    /** EventSource hides comment heartbeats: an open one counts as alive; the fetch reader sees them. */
    private alive(): boolean {
      return this.streaming && (ES !== undefined || Date.now() - this.lastActivity < 120_000);
    }

    private async post(path: string, body: unknown, id: string | undefined): Promise<void> {
      const url = new URL(path, this.url);
      try {
        const res = await fetchFn(url.toString(), {
          method: 'POST',
          headers: { authorization: `Bearer ${this.token ?? ''}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(30_000),
        });
        if (res.ok || id === undefined) return;
        const err = parseError(await res.text().catch(() => ''));
        this.deliver(JSON.stringify({ type: 'error', id, code: err.code ?? 'http_' + res.status, message: err.message ?? `HTTP ${res.status}` }));
      } catch (e) {
        if (id !== undefined) this.deliver(JSON.stringify({ type: 'error', id, code: 'unavailable', message: `request failed: ${String(e)}` }));
      }
    }
  };
}

/** An HTTP refusal of the stream as the close code a WebSocket would have seen. */
function closeCodeOfStatus(status: number): number {
  if (status === 401) return 4001;
  if (status === 403) return 4003;
  if (status === 429) return 4005;
  if (status === 400) return 4000;
  if (status === 503) return 1013;
  return ABNORMAL;
}

function parseError(text: string): { code?: string; message?: string } {
  try {
    return (JSON.parse(text) as { error?: { code?: string; message?: string } }).error ?? {};
  } catch {
    return {};
  }
}

function messageOf(body: string): string {
  return parseError(body).message ?? '';
}
