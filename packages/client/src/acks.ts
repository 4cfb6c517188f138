/**
 * The device's position in its reliable stream: the last seq the app
 * processed (auto mode) or acked (manual mode). It owns three duties that must
 * agree on that one number: cumulative, coalesced ack frames to the server;
 * the copy in the app's store (read on start, written as acks go out); and
 * the `last_seq` to send on the next connect.
 */
import type { SeqStore } from './storage.js';

export class AckPosition {
  #acked: number | null = null;
  /** Highest seq the server has been told (or told us, via welcome/sync). */
  #sent = 0;
  #persisted: number | null = null;
  #key: string | null = null;
  #scheduled = false;
  #force = false;
  readonly #store: SeqStore;
  readonly #delayMs: number;
  readonly #send: (seq: number) => boolean;
  readonly #onStoreError: (err: unknown) => void;

  /**
   * `send` writes one ack frame and returns false when there is no welcomed
   * socket; `delayMs` is the coalescing window (0 = a microtask).
   */
  constructor(store: SeqStore, delayMs: number, send: (seq: number) => boolean, onStoreError: (err: unknown) => void) {
    this.#store = store;
    this.#delayMs = delayMs;
    this.#send = send;
    this.#onStoreError = onStoreError;
  }

  /** Last processed/acked seq; null until known (new device, nothing stored). */
  get value(): number | null {
    return this.#acked;
  }

  /** The storage key loaded, or null before the first `load`. */
  get key(): string | null {
    return this.#key;
  }

  /** Reads the stored position for `key` (a new identity starts from what it stored, or unknown). */
  async load(key: string): Promise<void> {
    let stored: number | null = null;
    try {
      stored = await this.#store.get(key);
    } catch (err) {
      this.#onStoreError(err);
    }
    this.#key = key;
    this.#acked = typeof stored === 'number' && Number.isSafeInteger(stored) && stored >= 0 ? stored : null;
    this.#persisted = this.#acked;
  }

  /** The server set the position (welcome, sync): it is authoritative, up or down. */
  reset(seq: number): void {
    this.#acked = seq;
    this.#sent = seq;
    this.persist();
  }

  /** The app is done with everything ≤ seq. Lower or equal values are ignored. */
  advance(seq: number): void {
    if (this.#acked !== null && seq <= this.#acked) return;
    this.#acked = seq;
    this.#schedule();
  }

  /**
   * A seq the app already acked arrived again: the server did not see our ack
   * (or resent before it arrived). Ack again, or it keeps retrying until 4012.
   */
  reackIfCovered(seq: number): void {
    if (this.#acked === null || seq > this.#acked) return;
    this.#force = true;
    this.#schedule();
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    const run = () => {
      this.#scheduled = false;
      this.flush();
    };
    if (this.#delayMs <= 0) queueMicrotask(run);
    else setTimeout(run, this.#delayMs);
  }

  /** Sends the pending ack now (if any and if connected) and stores the position. */
  flush(): void {
    const seq = this.#acked;
    if (seq === null) return;
    if (seq > this.#sent || (this.#force && seq > 0)) {
      if (this.#send(seq)) {
        this.#sent = Math.max(this.#sent, seq);
        this.#force = false;
      }
    } else {
      this.#force = false;
    }
    this.persist();
  }

  /** Writes the position to the store when it changed. */
  persist(): void {
    const seq = this.#acked;
    const key = this.#key;
    if (seq === null || key === null || seq === this.#persisted) return;
    this.#persisted = seq;
    try {
      const result = this.#store.set(key, seq);
      if (result && typeof (result as Promise<void>).catch === 'function') (result as Promise<void>).catch(this.#onStoreError);
    } catch (err) {
      this.#onStoreError(err);
    }
  }
}
