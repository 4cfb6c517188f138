/**
 * One publishing phase of the broadcast and unicast scenarios: publish paced
 * (unicast: `rate` per second, open loop) or closed loop (broadcast: at most
 * `window` broadcasts not yet delivered to every member) for `durationSec`,
 * then drain — wait until every accepted message is delivered, with a
 * deadline. The orchestrator runs it twice with the same code: a warm-up whose
 * deliveries are reported apart, then the measured phase.
 */
import type { ChildProcess } from 'node:child_process';
import { nowMs } from './clock.js';
import type { ToWorker } from './ipc.js';
import { Pacer } from './pacer.js';
import type { Progress } from './progress.js';
import type { Publisher, PublishTo } from './publisher.js';
import type { TickAggregator } from './report.js';

/** What a phase needs from the orchestrator's run. */
export interface PhaseContext {
  publisher: Publisher;
  agg: TickAggregator;
  /** Re-checks `cond` whenever a client process reports; resolves false at the deadline. */
  until(cond: () => boolean, timeoutMs: number): Promise<boolean>;
  /** Wakes `until` (a publish answered). */
  kick(): void;
  sendAll(m: ToWorker): void;
  /** Client processes: their 'completed' messages move the broadcast window. */
  children: ChildProcess[];
  anyExited(): boolean;
  progress: Progress;
  broadcast: boolean;
  roomNames: string[];
  /** Members per room (broadcast). */
  members: number[];
  /** User indices that connected (unicast targets, round-robin). */
  users: number[];
  rate: number;
  window: number;
  maxMessages: number;
  pacerMaxBacklog: number | undefined;
  drainTimeoutSec: number;
}

export interface PhaseResult {
  published: number;
  accepted: number;
  skipped: number;
  expected: number;
  startMs: number;
  lastPublishMs: number;
  /** When the last delivery was seen (or everything was). */
  lastDeliveryMs: number;
}

/** Publishes for `durationSec` from `startMs`, then drains; the label names the phase in progress output. */
export async function publishPhase(c: PhaseContext, durationSec: number, startMs: number, label: string): Promise<PhaseResult> {
  const { publisher, agg, broadcast } = c;
  let published = 0;
  let accepted = 0;
  let expected = 0;
  const endMs = startMs + durationSec * 1000;
  // Unpaced broadcast is closed-loop: the window alone bounds it.
  const pacer = new Pacer(c.rate, startMs, c.maxMessages, c.pacerMaxBacklog ?? (c.rate > 0 ? Math.max(publisher.maxInFlight, Math.ceil(c.rate / 10)) : Number.POSITIVE_INFINITY));
  let lastPublishMs = startMs;
  let stopPublishing = false;
  let timer: NodeJS.Timeout | null = null;

  c.progress.phase(label, durationSec);
  const progressTimer = setInterval(() => {
    const el = (nowMs() - startMs) / 1000;
    c.progress.update(Math.min(el, durationSec), `sent ${published} delivered ${agg.delivered} (${Math.round(agg.delivered / Math.max(el, 0.001))}/s) p99 ${agg.total.totalCount ? (agg.total.getValueAtPercentile(99) / 1000).toFixed(2) : '-'} ms`);
  }, 200);

  const onResult = (ok: boolean, error: string | undefined, room: number, k: number): void => {
    if (ok) {
      accepted++;
      expected += broadcast ? (c.members[room] ?? 0) : 1;
    } else {
      if (error) agg.errors[error] = (agg.errors[error] ?? 0) + 1;
      if (broadcast) c.sendAll({ type: 'skip', k });
    }
    c.kick();
    pump();
  };
  const pump = (): void => {
    if (stopPublishing) return;
    const now = nowMs();
    if (now >= endMs || pacer.done) {
      stopPublishing = true;
      c.kick();
      return;
    }
    let n = pacer.due(now);
    if (broadcast) n = Math.min(n, c.window - (published - agg.completed));
    n = Math.min(n, publisher.maxInFlight - publisher.inFlight);
    for (let i = 0; i < n; i++) {
      const k = published++;
      pacer.take(1);
      lastPublishMs = nowMs();
      let to: PublishTo;
      let r = -1;
      if (broadcast) {
        r = k % c.roomNames.length;
        to = { room: c.roomNames[r] as string };
      } else {
        to = { user: `u${c.users[k % c.users.length] as number}` };
      }
      void publisher.publish(to, k, r).then((res) => onResult(res.ok, res.error, r, k));
    }
    if (timer === null && !stopPublishing) {
      // Paced: wake at the next due send. Closed-loop: responses and completions wake us; poll as a backstop.
      const wait = c.rate > 0 ? Math.max(1, Math.min(50, pacer.msUntilNext(nowMs()))) : 50;
      timer = setTimeout(() => {
        timer = null;
        pump();
      }, wait);
    }
  };
  const onCompleted = (): void => {
    if (broadcast && !stopPublishing) pump();
  };
  for (const child of c.children) child.on('message', onCompleted);
  try {
    pump();
    await c.until(() => stopPublishing && publisher.inFlight === 0, durationSec * 1000 + 30_000);
  } finally {
    stopPublishing = true;
    if (timer) clearTimeout(timer);
    for (const child of c.children) child.off('message', onCompleted);
    clearInterval(progressTimer);
  }

  // ---- drain: wait until every accepted message is delivered, with a deadline ----
  const drainStart = nowMs();
  let lastDelivered = -1;
  let lastProgressMs = drainStart;
  let lastDeliveryMs = startMs;
  let reached = false;
  while (nowMs() - drainStart < c.drainTimeoutSec * 1000) {
    const before = agg.delivered;
    c.sendAll({ type: 'flush' });
    await c.until(() => agg.delivered >= expected, 100);
    if (agg.delivered !== before || lastDelivered === -1) lastDeliveryMs = nowMs();
    if (agg.delivered >= expected) {
      reached = true;
      break;
    }
    if (agg.delivered !== lastDelivered) {
      lastDelivered = agg.delivered;
      lastProgressMs = nowMs();
    } else if (nowMs() - lastProgressMs > 5000) break; // nothing arriving for 5 s: the rest is lost
    if (c.anyExited()) break;
  }
  if (reached) lastDeliveryMs = nowMs();
  return { published, accepted, skipped: pacer.skipped, expected, startMs, lastPublishMs, lastDeliveryMs };
}
