/**
 * The invariant checks, as pure functions over recordings and health
 * snapshots, so each can be fed a bad recording in a unit test and shown to fail.
 */
import type { NodeHealth } from './cluster.js';
import type { KnownIssue } from './knownIssues.js';
import type { DeviceRecording, PublishRecord } from './recording.js';

export interface Violation {
  invariant: 'delivery' | 'leak' | 'memory' | 'isolation' | 'scenario';
  detail: string;
  /** Set when this is a known, reported server bug (see docs/stress.md): printed, fails only with --strict. */
  known?: KnownIssue;
}

const MAX_LISTED = 8;
const list = (xs: readonly (number | string)[]): string => (xs.length > MAX_LISTED ? `${xs.slice(0, MAX_LISTED).join(', ')}, … (${xs.length})` : xs.join(', '));

/** Does this publish target this device? */
function targets(p: PublishRecord, d: DeviceRecording): boolean {
  return p.tenant === d.tenant && p.users.includes(d.user) && (p.device === undefined || p.device === d.device);
}

/**
 * Exactly once, in order, nothing lost, nothing foreign:
 * - the seqs an app received strictly increase (no duplicate after dedupe, no reordering);
 * - every publish answered 200 that targets the device and was made after its first welcome arrived;
 * - each received message belongs to a publish that targets this device, and carries the seq
 *   the API returned for it; a publish answered 4xx was never stored, so it must not arrive
 *   (a 5xx or unanswered one may or may not have been stored: either is fine);
 * - no `recovered:false` (retention is configured larger than any run).
 * `missingOnly` reports just the lost messages (for polling until delivery completes).
 */
export function checkDelivery(publishes: readonly PublishRecord[], devices: readonly DeviceRecording[], missingOnly = false): Violation[] {
  const out: Violation[] = [];
  const byPid = new Map<number, PublishRecord>();
  for (const p of publishes) byPid.set(p.pid, p);
  for (const d of devices) {
    const got = new Set(d.delivered.map((m) => m.seq));
    if (d.sinceIndex !== undefined) {
      const since = d.sinceIndex;
      const lost = publishes
        .filter((p) => p.status === 200 && p.index >= since && targets(p, d))
        .map((p) => p.seq?.[d.user])
        .filter((s): s is number => s === undefined || !got.has(s))
        .map((s) => (s === undefined ? 'no seq in 200 answer' : s));
      if (lost.length) out.push({ invariant: 'delivery', detail: `${d.key}: ${lost.length} acknowledged message(s) never delivered, seq ${list(lost)}` });
    } else if (!missingOnly) {
      out.push({ invariant: 'delivery', detail: `${d.key}: never received a welcome` });
    }
    if (missingOnly) continue;
    let prev = -Infinity;
    const dups: number[] = [];
    const reorders: string[] = [];
    const foreign: string[] = [];
    const mismatched: string[] = [];
    const phantoms: string[] = [];
    for (const m of d.delivered) {
      if (m.seq === prev) dups.push(m.seq);
      else if (m.seq < prev) reorders.push(`${m.seq} after ${prev}`);
      prev = Math.max(prev, m.seq);
      const p = m.pid === undefined ? undefined : byPid.get(m.pid);
      if (!p) {
        foreign.push(`seq ${m.seq} (unknown publish ${String(m.pid)})`);
        continue;
      }
      if (!targets(p, d)) foreign.push(`seq ${m.seq} (publish ${p.pid} to ${p.tenant}/${p.users.join('+')}${p.device ? '/' + p.device : ''})`);
      else if (p.status === 200 && p.seq?.[d.user] !== m.seq) mismatched.push(`publish ${p.pid}: API seq ${String(p.seq?.[d.user])}, delivered ${m.seq}`);
      else if (p.status >= 400 && p.status < 500) phantoms.push(`publish ${p.pid} answered ${p.status} delivered as seq ${m.seq}`);
    }
    if (dups.length) out.push({ invariant: 'delivery', detail: `${d.key}: duplicate delivery to the app, seq ${list(dups)}` });
    if (reorders.length) out.push({ invariant: 'delivery', detail: `${d.key}: out of order: ${list(reorders)}` });
    if (foreign.length) out.push({ invariant: 'isolation', detail: `${d.key}: received messages not addressed to it: ${list(foreign)}` });
    if (mismatched.length) out.push({ invariant: 'delivery', detail: `${d.key}: seq differs from the API's answer: ${list(mismatched)}` });
    if (phantoms.length) out.push({ invariant: 'delivery', detail: `${d.key}: refused publishes were delivered: ${list(phantoms)}` });
    if (d.unrecovered > 0) out.push({ invariant: 'delivery', detail: `${d.key}: ${d.unrecovered} welcome(s) said recovered:false` });
    const wrongTenant = d.ephemeral.filter((e) => e.tenant !== undefined && e.tenant !== d.tenant).length + d.delivered.filter((m) => m.tenant !== undefined && m.tenant !== d.tenant).length;
    if (wrongTenant) out.push({ invariant: 'isolation', detail: `${d.key}: ${wrongTenant} message(s) of another tenant` });
  }
  return out;
}

export interface LeakBounds {
  /** Active handles allowed above the idle baseline (scrape sockets, a reconnecting Redis socket). */
  handleSlack: number;
}

/** Connections, users, rooms back to zero and handles back to the baseline. */
export function checkNodeLeaks(node: string, baseline: NodeHealth, now: NodeHealth, b: LeakBounds): Violation[] {
  const out: Violation[] = [];
  if (now.connections !== 0) out.push({ invariant: 'leak', detail: `${node}: ${now.connections} connection(s) still open after every client closed` });
  if (now.users !== 0) out.push({ invariant: 'leak', detail: `${node}: ${now.users} user(s) still registered` });
  if (now.rooms !== 0) out.push({ invariant: 'leak', detail: `${node}: ${now.rooms} room(s) still registered` });
  if (now.handles > baseline.handles + b.handleSlack)
    out.push({ invariant: 'leak', detail: `${node}: ${now.handles} active handles, baseline ${baseline.handles} (+${b.handleSlack} allowed)` });
  return out;
}

/** Redis subscriptions under the run's prefix back to the baseline (channel → subscriber count). */
export function checkSubscriptions(baseline: Record<string, number>, now: Record<string, number>): Violation[] {
  const extra: string[] = [];
  for (const [ch, n] of Object.entries(now)) {
    const base = baseline[ch] ?? 0;
    if (n > base) extra.push(`${ch}=${n} (baseline ${base})`);
  }
  const missing: string[] = [];
  for (const [ch, n] of Object.entries(baseline)) if ((now[ch] ?? 0) < n) missing.push(`${ch}=${now[ch] ?? 0} (baseline ${n})`);
  const out: Violation[] = [];
  if (extra.length) out.push({ invariant: 'leak', detail: `Redis subscriptions left behind: ${list(extra)}` });
  if (missing.length) out.push({ invariant: 'leak', detail: `Redis subscriptions lost (a node no longer listens): ${list(missing)}` });
  return out;
}

export interface MemoryBounds {
  /** RSS may exceed the idle baseline by this factor plus `rssSlackBytes` after the settle period. */
  rssFactor: number;
  rssSlackBytes: number;
  /** Per V8 heap: a workers node's health sums its workers' heaps, each with its own uncollected garbage. */
  heapSlackBytes: number;
}

/** `heaps`: how many V8 heaps `heapUsed` sums (the workers of a `--workers` node); the heap slack is per heap. */
export function checkMemory(node: string, baseline: NodeHealth, now: NodeHealth, b: MemoryBounds, heaps = 1): Violation[] {
  const out: Violation[] = [];
  const mib = (n: number): string => `${(n / 1048576).toFixed(1)} MiB`;
  const rssLimit = baseline.rss * b.rssFactor + b.rssSlackBytes;
  if (now.rss > rssLimit) out.push({ invariant: 'memory', detail: `${node}: RSS ${mib(now.rss)} after settling, limit ${mib(rssLimit)} (baseline ${mib(baseline.rss)})` });
  const heapLimit = baseline.heapUsed + b.heapSlackBytes * heaps;
  if (now.heapUsed > heapLimit) out.push({ invariant: 'memory', detail: `${node}: heap used ${mib(now.heapUsed)} after settling, limit ${mib(heapLimit)} (baseline ${mib(baseline.heapUsed)})` });
  return out;
}
