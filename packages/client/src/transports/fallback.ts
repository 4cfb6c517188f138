/**
 * Transport fallback (`transports: ['websocket', 'sse']`): a WebSocket
 * constructor the client uses like any other, which opens WebSockets until
 * `sseAfterFailures` in a row fail to reach a welcome (refused upgrades,
 * proxies that kill them), then SSE streams. While on SSE it probes, every
 * `probeMs`, whether a WebSocket upgrade goes through (a token-less upgrade,
 * closed as soon as it opens); when one does, it ends the stream with 1012
 * so the client reconnects — over WebSocket again. The app sees one client
 * either way: a `disconnected` event with willReconnect, then `connected`.
 */
import type { WebSocketConstructor, WebSocketLike } from '../socket.js';

type Handler<E> = { bivarianceHack(event: E): void }['bivarianceHack'];

export type TransportName = 'websocket' | 'sse';

export interface FallbackPolicy {
  /** Consecutive WebSocket attempts that end before a welcome before SSE is used. */
  sseAfterFailures: number;
  /** While on SSE, how often to check whether WebSocket works again, ms (0: never). */
  probeMs: number;
}

/** 1012 (service restart): the client reconnects, as for any non-terminal code. */
const SWITCH_BACK = 1012;

/** What the fallback saw, for the app's diagnostics and tests. */
export interface TransportStatus {
  readonly current: TransportName;
  readonly failures: number;
}

export function fallbackConstructor(ws: WebSocketConstructor, sse: WebSocketConstructor, policy: FallbackPolicy, status: { current: TransportName; failures: number }): WebSocketConstructor {
  return class FallbackSocket implements WebSocketLike {
    onopen: Handler<unknown> | null = null;
    onmessage: Handler<{ data: unknown }> | null = null;
    onclose: Handler<{ code: number; reason: string }> | null = null;
    onerror: Handler<unknown> | null = null;
    private readonly inner: WebSocketLike;
    private readonly overSse: boolean;
    private welcomed = false;
    private probe: ReturnType<typeof setTimeout> | undefined;

    constructor(
      private readonly url: string,
      protocols?: string | string[],
    ) {
      this.overSse = status.current === 'sse';
      this.inner = this.overSse ? new sse(url) : protocols ? new ws(url, protocols) : new ws(url);
      this.inner.onopen = (e) => this.onopen?.(e);
      this.inner.onerror = (e) => this.onerror?.(e);
      this.inner.onmessage = (e) => {
        if (!this.welcomed && typeof e.data === 'string' && e.data.startsWith('{"type":"welcome"')) this.onWelcome();
        this.onmessage?.(e);
      };
      this.inner.onclose = (e) => {
        clearTimeout(this.probe);
        if (!this.welcomed && !this.overSse && ++status.failures >= policy.sseAfterFailures) status.current = 'sse';
        this.onclose?.(e);
      };
    }

    get readyState(): number {
      return this.inner.readyState;
    }

    get binaryType(): string | undefined {
      return this.inner.binaryType;
    }

    set binaryType(v: string | undefined) {
      if (v !== undefined) this.inner.binaryType = v;
    }

    send(data: string | Uint8Array): void {
      this.inner.send(data);
    }

    close(code?: number, reason?: string): void {
      clearTimeout(this.probe);
      this.inner.close(code, reason);
    }

    private onWelcome(): void {
      this.welcomed = true;
      if (!this.overSse) status.failures = 0;
      else this.scheduleProbe();
    }

    private scheduleProbe(): void {
      if (policy.probeMs <= 0) return;
      this.probe = setTimeout(() => this.runProbe(), policy.probeMs);
      (this.probe as { unref?: () => void }).unref?.();
    }

    /** A token-less upgrade to the same URL: opening proves WebSockets pass; it is closed at once. */
    private runProbe(): void {
      const u = new URL(this.url);
      u.searchParams.delete('token');
      let p: WebSocketLike;
      try {
        p = new ws(u.toString());
      } catch {
        return this.scheduleProbe();
      }
      p.onerror = () => {};
      p.onmessage = null;
      p.onopen = () => {
        p.onclose = null;
        p.close(1000, 'probe');
        if (this.inner.readyState > 1) return;
        status.current = 'websocket';
        status.failures = 0;
        this.inner.close(SWITCH_BACK, 'WebSocket works again: switching back');
      };
      p.onclose = () => this.scheduleProbe();
    }
  };
}
