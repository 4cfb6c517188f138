/**
 * Keeps one connection's hook-gated frames in the order they arrived. Without
 * hooks a join, leave or publish completes synchronously; with a join or
 * publish hook it waits for the backend, and a second join (or the publish
 * right behind a join) must not overtake it. Each connection gets a queue
 * only while something of it is in flight; the queue is bounded
 * (`hookMaxPendingPerConnection`): past it the frame is refused, not stored.
 */

export type OrderedTask = () => Promise<void> | void;

export class FrameOrder<K extends object> {
  /** Present only while a task of the key is in flight: the tasks waiting behind it. */
  private readonly queues = new Map<K, OrderedTask[]>();

  constructor(
    private readonly maxPending: number,
    /** A task threw or rejected (a bug, not bad input): the caller isolates that connection. */
    private readonly onError: (key: K, err: unknown) => void,
  ) {}

  /** Tasks waiting or in flight for `key` (0 when idle). */
  pending(key: K): number {
    const q = this.queues.get(key);
    return q === undefined ? 0 : q.length + 1;
  }

  /** Runs `task` now when nothing of `key` is in flight, else after what is. False: over the bound, not queued. */
  run(key: K, task: OrderedTask): boolean {
    const q = this.queues.get(key);
    if (q !== undefined) {
      if (q.length + 1 >= this.maxPending) return false;
      q.push(task);
      return true;
    }
    this.drain(key, task);
    return true;
  }

  private drain(key: K, first: OrderedTask): void {
    let task: OrderedTask | undefined = first;
    while (task !== undefined) {
      let p: Promise<void> | void = undefined;
      try {
        p = task();
      } catch (err) {
        this.onError(key, err);
      }
      if (p !== undefined) {
        if (!this.queues.has(key)) this.queues.set(key, []);
        p.catch((err: unknown) => this.onError(key, err)).finally(() => this.next(key));
        return;
      }
      const q = this.queues.get(key);
      task = q?.shift();
      if (task === undefined) this.queues.delete(key);
    }
  }

  private next(key: K): void {
    const task = this.queues.get(key)?.shift();
    if (task === undefined) this.queues.delete(key);
    else this.drain(key, task);
  }
}
