/**
 * Request/reply over the socket: frames carrying an `id` are answered by
 * `{"type":"reply","id",ok:true,…}` or `{"type":"error","id",code,message}`.
 * Requests made while disconnected wait in a queue and go out on the next
 * `welcome`; the timeout counts from the call, so waiting for a connection is
 * included.
 */
import type { ErrorFrame, ReplyFrame } from '@herald/protocol';
import { HeraldError } from './errors.js';

/**
 * What to do with a request that was sent but not answered when the socket drops:
 * - `resend`: send it again after reconnecting (idempotent operations: join, presence);
 * - `reject`: fail with code `disconnected` (publish: it may already have been applied).
 */
export type DisconnectPolicy = 'resend' | 'reject';

/** A client frame without its `id`; the tracker assigns one. */
export type RequestFrame = { type: string } & Record<string, unknown>;

interface Pending {
  frame: RequestFrame & { id: string };
  policy: DisconnectPolicy;
  sent: boolean;
  timer: ReturnType<typeof setTimeout>;
  resolve: (reply: ReplyFrame) => void;
  reject: (err: HeraldError) => void;
}

export class RequestTracker {
  readonly #pending = new Map<string, Pending>();
  #nextId = 1;
  readonly #send: (frame: RequestFrame) => boolean;

  /** `send` writes a frame and returns false when there is no open, welcomed socket. */
  constructor(send: (frame: RequestFrame) => boolean) {
    this.#send = send;
  }

  get size(): number {
    return this.#pending.size;
  }

  request(frame: RequestFrame, timeoutMs: number, policy: DisconnectPolicy): Promise<ReplyFrame> {
    const id = `r${this.#nextId++}`;
    return new Promise<ReplyFrame>((resolve, reject) => {
      const pending: Pending = {
        frame: { ...frame, id },
        policy,
        sent: false,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#pending.delete(id);
          reject(new HeraldError('timeout', `no reply to ${frame.type} within ${timeoutMs} ms`));
        }, timeoutMs),
      };
      this.#pending.set(id, pending);
      pending.sent = this.#send(pending.frame);
    });
  }

  /** Routes a reply or error frame to its request; returns false when no request has that id. */
  settle(frame: ReplyFrame | ErrorFrame): boolean {
    if (frame.id === undefined) return false;
    const pending = this.#pending.get(frame.id);
    if (!pending) return false;
    this.#pending.delete(frame.id);
    clearTimeout(pending.timer);
    if (frame.type === 'reply') pending.resolve(frame);
    else
      pending.reject(
        new HeraldError('server', `${pending.frame.type} failed: ${frame.code}: ${frame.message}`, { serverCode: frame.code }),
      );
    return true;
  }

  /** Sends every queued request, in call order (after a `welcome`). */
  flush(): void {
    for (const pending of this.#pending.values()) {
      if (pending.sent) continue;
      pending.sent = this.#send(pending.frame);
      if (!pending.sent) return; // socket dropped while flushing; the next welcome flushes again
    }
  }

  /** The socket dropped: apply each sent request's disconnect policy. */
  disconnected(): void {
    for (const [id, pending] of this.#pending) {
      if (!pending.sent) continue;
      if (pending.policy === 'resend') {
        pending.sent = false;
      } else {
        this.#pending.delete(id);
        clearTimeout(pending.timer);
        pending.reject(
          new HeraldError('disconnected', `connection lost before the reply to ${pending.frame.type}; it may or may not have been applied`),
        );
      }
    }
  }

  rejectAll(err: HeraldError): void {
    for (const pending of this.#pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(err);
    }
    this.#pending.clear();
  }
}
