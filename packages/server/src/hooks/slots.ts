/**
 * Bounded concurrency for one hook: at most `max` calls in flight; the excess
 * waits in a FIFO queue of at most `maxQueue` entries, each for a bounded
 * time. A full queue refuses at once, so a slow backend turns into fast
 * refusals instead of unbounded memory.
 */

export class SlotError extends Error {
  constructor(readonly reason: 'queue_full' | 'queue_timeout') {
    super(reason === 'queue_full' ? 'too many calls waiting for this hook' : 'no free slot for this hook in time');
  }
}

interface Waiter {
  grant: () => void;
  timer: ReturnType<typeof setTimeout>;
  /** Set when the wait timed out: the entry is skipped when it reaches the head. */
  gone: boolean;
}

export class Slots {
  private active = 0;
  private waiting = 0;
  private readonly queue: Waiter[] = [];
  private head = 0;

  constructor(
    private readonly max: number,
    private readonly maxQueue: number,
  ) {}

  get inFlight(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiting;
  }

  /** Resolves when a slot is taken (call `release` once after); rejects with SlotError. */
  acquire(waitMs: number): Promise<void> | undefined {
    if (this.active < this.max) {
      this.active++;
      return undefined;
    }
    if (this.waiting >= this.maxQueue) return Promise.reject(new SlotError('queue_full'));
    return new Promise<void>((resolve, reject) => {
      const w: Waiter = {
        gone: false,
        grant: resolve,
        timer: setTimeout(() => {
          w.gone = true;
          this.waiting--;
          // Taken out now (O(queue), bounded by maxQueue): timed-out entries never pile up.
          const i = this.queue.indexOf(w, this.head);
          if (i >= 0) this.queue.splice(i, 1);
          reject(new SlotError('queue_timeout'));
        }, Math.max(0, waitMs)),
      };
      this.queue.push(w);
      this.waiting++;
    });
  }

  /** Frees a slot, handing it straight to the oldest live waiter. */
  release(): void {
    while (this.head < this.queue.length) {
      const w = this.queue[this.head++]!;
      if (w.gone) continue;
      clearTimeout(w.timer);
      this.waiting--;
      this.compact();
      w.grant(); // the slot passes over: `active` stays the same
      return;
    }
    this.compact();
    this.active--;
  }

  /** Drops consumed entries once they are half the array, so the queue never grows past its bound. */
  private compact(): void {
    if (this.head > 32 && this.head * 2 >= this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
  }
}
