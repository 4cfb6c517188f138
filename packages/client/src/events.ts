/**
 * A tiny typed event emitter. Node's EventEmitter is not available in browsers
 * and the DOM EventTarget loses payload types, so the SDK carries its own.
 */

type Listener<T> = (payload: T) => void;

export class TypedEmitter<Events extends object> {
  // Sets keep insertion order (listeners run in the order they were added) and
  // let a listener remove itself while an emit is iterating over a snapshot.
  readonly #listeners = new Map<keyof Events, Set<Listener<never>>>();

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    let set = this.#listeners.get(event);
    if (!set) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(listener as Listener<never>);
    return () => this.off(event, listener);
  }

  /** Adds a listener that runs at most once; returns a function that removes it. */
  once<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    const off = this.on(event, (payload) => {
      off();
      listener(payload);
    });
    return off;
  }

  off<K extends keyof Events>(event: K, listener: Listener<Events[K]>): void {
    this.#listeners.get(event)?.delete(listener as Listener<never>);
  }

  listenerCount<K extends keyof Events>(event: K): number {
    return this.#listeners.get(event)?.size ?? 0;
  }

  /**
   * Calls every listener of `event`. A throwing listener must not stop delivery
   * to the others nor break the SDK's state machine, so errors go to
   * `onListenerError` instead of propagating.
   */
  protected emit<K extends keyof Events>(event: K, payload: Events[K]): void {
    const set = this.#listeners.get(event);
    if (!set || set.size === 0) return;
    for (const listener of [...set]) {
      try {
        (listener as Listener<Events[K]>)(payload);
      } catch (err) {
        this.onListenerError(event, err);
      }
    }
  }

  protected onListenerError(_event: keyof Events, _err: unknown): void {
    // Overridden by the client.
  }
}
