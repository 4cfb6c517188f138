/**
 * The rooms the app wants to be in. The server forgets a connection's rooms
 * when it drops, so the client re-joins every wanted room after each `welcome`;
 * a join already in flight (queued or being resent) is not joined twice.
 */
export class RoomSet {
  readonly #wanted = new Set<string>();
  readonly #joining = new Map<string, Promise<unknown>>();

  has(room: string): boolean {
    return this.#wanted.has(room);
  }

  list(): string[] {
    return [...this.#wanted];
  }

  want(room: string): void {
    this.#wanted.add(room);
  }

  drop(room: string): void {
    this.#wanted.delete(room);
  }

  /** The pending join request for `room`, if any. */
  joining(room: string): Promise<unknown> | undefined {
    return this.#joining.get(room);
  }

  trackJoin(room: string, request: Promise<unknown>): void {
    this.#joining.set(room, request);
    const done = () => {
      if (this.#joining.get(room) === request) this.#joining.delete(room);
    };
    request.then(done, done);
  }

  /** Rooms to re-join after a reconnect: wanted and without a join already pending. */
  toRejoin(): string[] {
    return this.list().filter((room) => !this.#joining.has(room));
  }
}
