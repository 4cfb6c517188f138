/**
 * Dedupe of reliable messages by `seq`. Seqs are per user and strictly
 * increasing but not contiguous for one device (messages addressed to the
 * user's other devices leave gaps), so a gap is normal and only
 * "seq ≤ highest seen" identifies a duplicate (a retry of an unacked message,
 * or a replay overlapping what was already delivered).
 */
export class SeqWatermark {
  #value: number;

  constructor(initial = 0) {
    this.#value = initial;
  }

  /** Highest seq accepted so far. */
  get value(): number {
    return this.#value;
  }

  /** Returns true (and advances) for a new seq, false for a duplicate or a late, out-of-order one. */
  accept(seq: number): boolean {
    if (seq <= this.#value) return false;
    this.#value = seq;
    return true;
  }

  /** Moves the watermark, up or down: the server's `welcome.last_seq` is authoritative. */
  reset(value: number): void {
    this.#value = value;
  }
}
