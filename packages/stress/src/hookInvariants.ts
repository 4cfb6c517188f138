/**
 * The connect hook's promises under failure (docs/hooks.md, "Failure policy"),
 * as a pure check over the connect attempts of a storm — so it can be fed a bad
 * recording in a unit test and shown to fail:
 * - every attempt is answered — a welcome or a close — within the hook timeout
 *   (queue wait included) plus slack: no connection waits on a stuck backend;
 * - a failed hook (timeout, 5xx, garbage, unreachable, breaker open) closes 1013,
 *   never admits; a healthy one admits, or refuses 4003 when it says so;
 *   a 1013 while the backend is healthy is allowed only from the breaker still open.
 */
import type { Violation } from './invariants.js';

export interface ConnectAttempt {
  /** What the backend did during this attempt's storm. */
  backend: 'healthy' | 'failing';
  /** The hook answer would refuse this one (4003). */
  banned: boolean;
  startedAt: number;
  /** When the welcome or the close came; undefined: nothing came. */
  answeredAt?: number;
  welcome: boolean;
  /** Close code when closed before a welcome. */
  code?: number;
  reason?: string;
  /** A retry after a breaker_open refusal (the recovery storm). */
  retry?: boolean;
}

export interface AttemptStats {
  welcomed: number;
  refused4003: number;
  tryLater1013: number;
  breakerOpen: number;
  worstMs: number;
}

export function checkConnectAttempts(attempts: readonly ConnectAttempt[], boundMs: number): { violations: Violation[]; stats: AttemptStats } {
  const v: Violation[] = [];
  const stats: AttemptStats = { welcomed: 0, refused4003: 0, tryLater1013: 0, breakerOpen: 0, worstMs: 0 };
  const late: string[] = [];
  const wrong: string[] = [];
  attempts.forEach((a, i) => {
    const ms = a.answeredAt === undefined ? Infinity : a.answeredAt - a.startedAt;
    if (ms !== Infinity) stats.worstMs = Math.max(stats.worstMs, ms);
    if (ms > boundMs) late.push(`#${i} ${ms === Infinity ? 'no answer' : `${ms} ms`}`);
    if (a.welcome) stats.welcomed++;
    else if (a.code === 4003) stats.refused4003++;
    else if (a.code === 1013) {
      stats.tryLater1013++;
      if (a.reason?.includes('breaker')) stats.breakerOpen++;
    }
    if (a.answeredAt === undefined) return;
    const what = a.welcome ? 'welcome' : `close ${String(a.code)}`;
    if (a.backend === 'failing') {
      if (a.welcome || a.code !== 1013) wrong.push(`#${i} (backend failing): ${what}, expected 1013`);
    } else if (a.banned) {
      if (a.welcome || (a.code !== 4003 && !(a.code === 1013 && a.reason?.includes('breaker')))) wrong.push(`#${i} (banned): ${what}, expected 4003`);
    } else if (!a.welcome && !(a.code === 1013 && a.reason?.includes('breaker'))) {
      wrong.push(`#${i} (backend healthy): ${what} "${String(a.reason)}", expected a welcome`);
    }
  });
  const list = (xs: string[]): string => (xs.length > 6 ? `${xs.slice(0, 6).join(', ')}, … (${xs.length})` : xs.join(', '));
  if (late.length) v.push({ invariant: 'scenario', detail: `connect hook: ${late.length} attempt(s) not answered within ${boundMs} ms: ${list(late)}` });
  if (wrong.length) v.push({ invariant: 'scenario', detail: `connect hook: ${wrong.length} attempt(s) with the wrong outcome: ${list(wrong)}` });
  return { violations: v, stats };
}
