/**
 * Load shedding: the node watches its event-loop delay (p99 over each check
 * interval, and how late the check itself ran) and the bytes buffered for
 * all its connections together. Over a threshold it sheds in priority order,
 * one step per check:
 *   level 1 — refuse new WebSocket connections (close 1013 with a retry hint);
 *   level 2 — also refuse ephemeral API publishes (503 overloaded + Retry-After).
 * Reliable publishes (stores), acks, replay and health checks are never shed:
 * refusing them would turn overload into loss or into a restart. It steps
 * back down one level per check only once every watched value is under
 * shedRecoverPercent of its threshold (hysteresis), so it does not flap.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { LiveConfig } from '../config/live.js';

export type ShedLevel = 0 | 1 | 2;
export const SHED_LEVEL_NAMES = ['normal', 'refusing_connections', 'refusing_ephemeral_publishes'] as const;

export interface ShedState {
  level: ShedLevel;
  state: (typeof SHED_LEVEL_NAMES)[ShedLevel];
  /** What crossed its threshold at the last step up (empty when normal). */
  reason: string;
  /** Last measurements. */
  eventLoopDelayP99Ms: number;
  outboundBufferedBytes: number;
  since: number;
  /** Times the node entered shedding since start. */
  episodes: number;
}

export class LoadShedder {
  private readonly h: IntervalHistogram = monitorEventLoopDelay({ resolution: 10 });
  private readonly timer: NodeJS.Timeout;
  private lastCheck = Date.now();
  private s: ShedState = { level: 0, state: 'normal', reason: '', eventLoopDelayP99Ms: 0, outboundBufferedBytes: 0, since: Date.now(), episodes: 0 };

  constructor(
    private readonly live: LiveConfig,
    /** Bytes buffered for every connection of the node together. */
    private readonly bufferedBytes: () => number,
    intervalMs: number,
  ) {
    this.h.enable();
    this.timer = setInterval(() => this.check(), intervalMs);
    this.timer.unref();
  }

  get level(): ShedLevel {
    return this.s.level;
  }

  get state(): ShedState {
    return { ...this.s };
  }

  /** Seconds a refused client should wait (retry hint). */
  get retryAfterSec(): number {
    return this.live.current.shedRetryAfterSec;
  }

  /** One measurement and at most one step. Public for tests that drive it. */
  check(now = Date.now()): void {
    const c = this.live.current;
    const interval = c.shedCheckIntervalMs;
    // A check that runs late was itself held up by the loop: that delay counts even when the
    // histogram saw too few samples to put it in its p99.
    const late = Math.max(0, now - this.lastCheck - interval);
    this.lastCheck = now;
    const p99 = this.h.count > 0 ? Math.max(0, this.h.percentile(99) / 1e6 - 10) : 0;
    this.h.reset();
    const delay = Math.max(p99, late);
    const buffered = this.bufferedBytes();
    this.s.eventLoopDelayP99Ms = Math.round(delay);
    this.s.outboundBufferedBytes = buffered;
    const over: string[] = [];
    if (c.shedEventLoopDelayMs > 0 && delay > c.shedEventLoopDelayMs) over.push(`event-loop delay p99 ${Math.round(delay)} ms > ${c.shedEventLoopDelayMs} ms`);
    if (c.shedOutboundBufferedBytes > 0 && buffered > c.shedOutboundBufferedBytes) over.push(`outbound buffered ${buffered} bytes > ${c.shedOutboundBufferedBytes}`);
    const ratio = c.shedRecoverPercent / 100;
    const calm = (c.shedEventLoopDelayMs === 0 || delay < c.shedEventLoopDelayMs * ratio) && (c.shedOutboundBufferedBytes === 0 || buffered < c.shedOutboundBufferedBytes * ratio);
    if (over.length > 0 && this.s.level < 2) this.step((this.s.level + 1) as ShedLevel, over.join('; '), now);
    else if (over.length === 0 && calm && this.s.level > 0) this.step((this.s.level - 1) as ShedLevel, this.s.level - 1 === 0 ? '' : this.s.reason, now);
  }

  private step(level: ShedLevel, reason: string, now: number): void {
    if (this.s.level === 0 && level > 0) this.s.episodes++;
    this.s = { ...this.s, level, state: SHED_LEVEL_NAMES[level], reason, since: now };
  }

  stop(): void {
    clearInterval(this.timer);
    this.h.disable();
  }
}
