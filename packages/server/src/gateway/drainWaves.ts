/**
 * Closing every session of a transport on shutdown, in waves spread evenly
 * over `windowMs` (one wave per ~100 ms) so that clients do not all reconnect
 * at the same instant; waits until all are closed, bounded by `timeoutMs`
 * from the start (stragglers are then terminated); then waits for the cursor
 * writes of every closed reliable stream. `windowMs` 0 closes all at once.
 * WebSocket connections and SSE streams drain with the same schedule.
 */
import type { ReliableStream } from '../delivery/reliableStream.js';

export interface Drainable {
  readonly reliable: ReliableStream | undefined;
  close(code: number, reason: string): void;
}

export interface DrainTransport<S extends Drainable> {
  /** Resolves once the session's transport has closed. */
  closed(s: S): Promise<void>;
  /** Drops a session that did not close in time. */
  terminate(s: S): void;
  /** Sessions still open (after the wait). */
  live(): Iterable<S>;
}

export async function drainInWaves<S extends Drainable>(sessions: S[], t: DrainTransport<S>, code: number, reason: string, timeoutMs: number, windowMs = 0): Promise<void> {
  const started = Date.now();
  // Captured now: closed sessions leave the registry, their cursor writes must still be awaited.
  const streams = sessions.flatMap((s) => (s.reliable ? [s.reliable] : []));
  const closed = sessions.map((s) => t.closed(s));
  const deadline = new Promise<void>((r) => setTimeout(r, timeoutMs).unref());
  const window = Math.max(0, Math.min(windowMs, timeoutMs));
  const waves = Math.max(1, Math.min(sessions.length, Math.ceil(window / 100)));
  const perWave = Math.ceil(sessions.length / waves);
  for (let w = 0; w < waves; w++) {
    const at = started + Math.floor((w * window) / waves);
    if (at > Date.now()) await new Promise((r) => setTimeout(r, at - Date.now()));
    for (const s of sessions.slice(w * perWave, (w + 1) * perWave)) s.close(code, reason);
  }
  await Promise.race([Promise.all(closed), deadline]);
  for (const s of t.live()) t.terminate(s);
  await Promise.race([Promise.all(streams.map((s) => s.flush())), deadline]);
}
