/**
 * `rpc` frames of a session: the RPC hook's answer as a reply or an error
 * frame with the frame's id. Calls of one connection run concurrently (each
 * has its own id) but at most `hookMaxPendingPerConnection` at once; no RPC
 * hook configured answers `not_supported`.
 */
import { ErrorCode, type RpcFrame } from '@herald/protocol';
import { errorFrame, replyFrame } from '../protocol/serverFrames.js';
import type { HookSubject } from './joinHook.js';
import type { RpcHook } from './rpcHook.js';

/** What an rpc needs of a session (a WebSocket connection implements it). */
export interface RpcSession extends HookSubject {
  readonly state: string;
  sendText(text: string): void;
}

export class RpcFrames<S extends RpcSession> {
  /** Calls in flight per session; a session is present only while it has some. */
  private readonly inflight = new Map<S, number>();

  constructor(
    private readonly hook: RpcHook | undefined,
    private readonly maxPerSession: number,
    /** Answers a refused frame (counted as a protocol error). */
    private readonly refuse: (s: S, code: string, message: string, id: string) => void,
  ) {}

  handle(s: S, f: RpcFrame): Promise<void> | undefined {
    if (this.hook === undefined) {
      this.refuse(s, ErrorCode.NotSupported, 'rpc is not enabled on this server (no RPC hook configured)', f.id);
      return undefined;
    }
    const n = this.inflight.get(s) ?? 0;
    if (n >= this.maxPerSession) {
      this.refuse(s, ErrorCode.RateLimited, `at most ${this.maxPerSession} rpc calls in flight per connection`, f.id);
      return undefined;
    }
    this.inflight.set(s, n + 1);
    return this.call(this.hook, s, f).finally(() => {
      const left = (this.inflight.get(s) ?? 1) - 1;
      if (left > 0) this.inflight.set(s, left);
      else this.inflight.delete(s);
    });
  }

  private async call(hook: RpcHook, s: S, f: RpcFrame): Promise<void> {
    const r = await hook.call(s, f.method, f.data);
    if (s.state !== 'active') return; // closed while the backend answered
    if (r.ok) s.sendText(replyFrame(f.id, { data: r.data }));
    // The backend's own error codes go to the client as they are: not counted as protocol errors.
    else if (r.code !== ErrorCode.Unavailable) s.sendText(errorFrame(r.code, r.message, f.id));
    else this.refuse(s, r.code, r.message, f.id);
  }
}
