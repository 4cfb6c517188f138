/**
 * The webhook events' promises (docs/events.md), as a pure check over what a
 * receiver accepted and what the clients saw — so each can be fed a bad
 * recording in a unit test and shown to fail:
 *
 * - at least once, stable ids: a repeat of an id is allowed (counted) and must be
 *   the identical event; after dedupe on `id` each fact has one event (one
 *   `connect` and one `disconnect` per connection, `online`/`offline` strictly
 *   alternating per user, one `unacked` per message);
 * - nothing lost: every connection a client got a welcome on has its `connect`
 *   and (once closed) its `disconnect`; every user ends `offline`; every message
 *   no device could ack has its `unacked`;
 * - order per user: events a node made for one user arrive in the order it made
 *   them (ids `<node>.<boot>.<counter>`); a connection's `connect` before its `disconnect`;
 * - crashed node: its open connections get `disconnect` 1006 "node lost", and a
 *   user left with no device `offline` "node lost", stamped within the bound.
 */
import type { Violation } from './invariants.js';
import type { ReceivedEvent } from './webhookReceiver.js';

/** A connection a client saw a welcome on. */
export interface ObservedConn {
  tenant: string;
  user: string;
  conn: string;
  /** When the client got the welcome, ms since the epoch. */
  at?: number;
  /** The node that sent the welcome. */
  node?: string;
  /** When the client saw it close, ms since the epoch (absent while open). */
  closedAt?: number;
}

export interface NodeCrash {
  node: string;
  /** When the process was killed, ms since the epoch. */
  at: number;
  /** nodeTtlMs + nodeHeartbeatMs (+ the slack the scenario allows). */
  boundMs: number;
  /** Connections open on it at the kill. */
  conns: ObservedConn[];
  /** Users whose every connection was on it (and who did not reconnect): they must go offline. */
  orphans: { tenant: string; user: string }[];
  /** Longest crash window accepted (see `crashWindowFrom`): a longer one that excuses missing facts fails — the node's writes were held that long. */
  maxWindowMs: number;
}

export interface UnackedWatch {
  tenant: string;
  user: string;
  seq: number;
  message_id: string;
  /** Deadline (publish time + notify_unacked_after), ms since the epoch. */
  due: number;
  /** No device could ack it: the event must come. Otherwise it must not, when an ack came in time. */
  mustFire: boolean;
}

export interface EventCheckInput {
  /** Accepted events in arrival order (repeats included). Events of other users are ignored. */
  events: readonly ReceivedEvent[];
  /** Only users for which this returns true are checked (the scenario's namespace). */
  mine: (user: string) => boolean;
  conns: readonly ObservedConn[];
  /** Users that had connections: each must end offline. */
  users: readonly { tenant: string; user: string }[];
  crash?: NodeCrash;
  unacked?: readonly UnackedWatch[];
  /** An `acked` event this much before the deadline means no `unacked` may fire (ms). */
  ackMarginMs?: number;
}

export interface EventCheckResult {
  violations: Violation[];
  /** Distinct events (after dedupe). */
  distinct: number;
  /** Deliveries of an id already accepted (allowed: at least once). */
  repeats: number;
  /** Missing facts excused by the crash window (`crashWindowFrom`). */
  excused: string[];
  /** How long before the kill the killed node's last arrived event was made, ms. */
  crashWindowMs?: number;
}

const MAX_LISTED = 6;
const list = (xs: readonly string[]): string => (xs.length > MAX_LISTED ? `${xs.slice(0, MAX_LISTED).join(', ')}, … (${xs.length})` : xs.join(', '));
const key = (tenant: string, user: string): string => `${tenant}/${user}`;

/** `<node>.<boot>.<base36 counter>` → incarnation and counter; fact ids (no dots) → undefined. */
function counterOf(id: string): { inc: string; n: number } | undefined {
  const i = id.lastIndexOf('.');
  if (i < 0) return undefined;
  const n = parseInt(id.slice(i + 1), 36);
  return Number.isFinite(n) ? { inc: id.slice(0, i), n } : undefined;
}

/** Client and server clocks are one clock here; this covers the welcome's or the close's trip. */
const CLIENT_SKEW_MS = 250;

/**
 * The crash window (events.md, "Durability"): an event a node made before its write reached Redis
 * dies with it — for a connection that opened or closed then, its connect/disconnect. Never the
 * user's online/offline: those are written by the presence change itself (issue 23), so they are
 * never excused. A node writes its events in the order it makes them (ids
 * `<node>.<boot>.<counter>`), so the window starts at the last event of the killed incarnation that
 * arrived: everything it made later was lost together. Undefined when nothing of it arrived.
 */
export function crashWindowFrom(c: NodeCrash, events: readonly ReceivedEvent[]): number | undefined {
  const w = [...crashWindows(c, events).values()];
  return w.length ? Math.min(...w) : undefined;
}

/**
 * Per process of the killed node (itself, or each `<node>-w<i>` worker of a `--workers` node: each
 * writes its own events in its own order), the time of its last event that arrived.
 */
export function crashWindows(c: NodeCrash, events: readonly ReceivedEvent[]): Map<string, number> {
  const last = new Map<string, number>();
  for (const e of events) {
    const inc = counterOf(e.id)?.inc;
    if (inc === undefined || e.ts > c.at) continue;
    const node = inc.slice(0, inc.lastIndexOf('.'));
    if (processOf(c, node)) last.set(node, Math.max(last.get(node) ?? -Infinity, e.ts));
  }
  return last;
}

/** Is `node` (a welcome's or an event's node id) the crashed node or one of its workers? */
export function processOf(c: { node: string }, node: string | undefined): boolean {
  if (node === undefined) return false;
  return node === c.node || (node.startsWith(`${c.node}-w`) && /^\d+$/.test(node.slice(c.node.length + 2)));
}

/** Did this connection open or close, on a process of the crashed node, after that process's last written event? */
function inCrashWindow(o: ObservedConn, c: NodeCrash | undefined, windows: Map<string, number>): boolean {
  const from = o.node === undefined ? undefined : windows.get(o.node);
  if (!c || from === undefined) return false;
  const f = from - CLIENT_SKEW_MS;
  return (o.at !== undefined && o.at >= f && o.at <= c.at) || (o.closedAt !== undefined && o.closedAt >= f && o.closedAt <= c.at);
}

export function checkWebhookEvents(input: EventCheckInput): EventCheckResult {
  const v: Violation[] = [];
  const bad = (detail: string): void => void v.push({ invariant: 'delivery', detail: `webhooks: ${detail}` });
  const excused: string[] = [];
  const mineOnly = input.events.filter((e) => input.mine(e.user));
  const from = input.crash ? crashWindowFrom(input.crash, mineOnly) : undefined;
  const windows = input.crash ? crashWindows(input.crash, mineOnly) : new Map<string, number>();
  const windowConns = new Set(input.conns.filter((o) => inCrashWindow(o, input.crash, windows)).map((o) => o.conn));
  const first = new Map<string, ReceivedEvent>();
  let repeats = 0;
  const changed: string[] = [];
  for (const e of input.events) {
    if (!input.mine(e.user)) continue;
    const prev = first.get(e.id);
    if (!prev) first.set(e.id, e);
    else {
      repeats++;
      if (prev.json !== e.json) changed.push(e.id);
    }
  }
  if (changed.length) bad(`${changed.length} id(s) sent again with different content: ${list(changed)}`);
  const events = [...first.values()];

  // Per connection: one connect, one disconnect, connect first.
  const byConn = new Map<string, { connect: ReceivedEvent[]; disconnect: ReceivedEvent[] }>();
  for (const e of events) {
    if ((e.type !== 'connect' && e.type !== 'disconnect') || !e.conn) continue;
    let c = byConn.get(e.conn);
    if (!c) byConn.set(e.conn, (c = { connect: [], disconnect: [] }));
    c[e.type].push(e);
  }
  const twice: string[] = [];
  const noConnect: string[] = [];
  const noDisconnect: string[] = [];
  const backwards: string[] = [];
  for (const [conn, c] of byConn) {
    if (c.connect.length > 1 || c.disconnect.length > 1) twice.push(`${conn} (${c.connect.length} connect, ${c.disconnect.length} disconnect)`);
    const lost = windowConns.has(conn) ? excused : undefined;
    if (c.connect.length === 0) (lost ?? noConnect).push(lost ? `${conn}: no connect` : conn);
    if (c.disconnect.length === 0) (lost ?? noDisconnect).push(lost ? `${conn}: no disconnect` : conn);
    const a = c.connect[0];
    const b = c.disconnect[0];
    if (a && b && events.indexOf(b) < events.indexOf(a)) backwards.push(conn);
  }
  for (const o of input.conns) {
    if (byConn.has(o.conn)) continue;
    if (windowConns.has(o.conn)) excused.push(`${o.conn}: no connect, no disconnect`);
    else {
      noConnect.push(`${o.conn} (seen by the client)`);
      noDisconnect.push(o.conn);
    }
  }
  if (twice.length) bad(`one connection, several events under different ids: ${list(twice)}`);
  if (noConnect.length) bad(`${noConnect.length} connection(s) without a connect event: ${list(noConnect)}`);
  if (noDisconnect.length) bad(`${noDisconnect.length} connection(s) without a disconnect event: ${list(noDisconnect)}`);
  if (backwards.length) bad(`disconnect arrived before its connect: ${list(backwards)}`);

  // Per user: online/offline alternate, starting online, ending offline; each node's events in its order.
  const perUser = new Map<string, ReceivedEvent[]>();
  for (const e of events) {
    const k = key(e.tenant, e.user);
    let l = perUser.get(k);
    if (!l) perUser.set(k, (l = []));
    l.push(e);
  }
  const presence: string[] = [];
  const reordered: string[] = [];
  for (const [u, l] of perUser) {
    let state: 'offline' | 'online' = 'offline';
    for (const e of l) {
      if (e.type !== 'online' && e.type !== 'offline') continue;
      if (e.type === state) presence.push(`${u}: ${e.type} (${e.id}) ${e.type === 'offline' ? 'without an online before it' : 'twice in a row'}`);
      state = e.type;
    }
    const last = new Map<string, { n: number; id: string }>();
    for (const e of l) {
      const c = counterOf(e.id);
      if (!c) continue;
      const p = last.get(c.inc);
      if (p && c.n < p.n) reordered.push(`${u}: ${e.id} (${e.type}) after ${p.id}`);
      if (!p || c.n > p.n) last.set(c.inc, { n: c.n, id: e.id });
    }
  }
  const notOffline: string[] = [];
  for (const u of input.users) {
    const l = (perUser.get(key(u.tenant, u.user)) ?? []).filter((e) => e.type === 'online' || e.type === 'offline');
    const k = key(u.tenant, u.user);
    if (l.length === 0) notOffline.push(`${k} (no online/offline at all)`);
    else if (l[l.length - 1]!.type !== 'offline') notOffline.push(`${k} (not offline at the end)`);
  }
  if (presence.length) bad(`online/offline do not alternate: ${list(presence)}`);
  if (notOffline.length) bad(`${notOffline.length} user(s) not offline at the end: ${list(notOffline)}`);
  if (reordered.length) bad(`events of one user out of the order their node made them: ${list(reordered)}`);

  if (input.crash) checkCrash(input.crash, events, byConn, bad);
  if (input.unacked) checkUnacked(input.unacked, events, input.ackMarginMs ?? 1000, bad, input.crash, from, excused);
  // A long window only matters when it excuses something: a node quiet before the kill lost nothing.
  if (input.crash && from !== undefined && input.crash.at - from > input.crash.maxWindowMs && excused.length > 0)
    bad(`crash of ${input.crash.node}: its last event that arrived was made ${input.crash.at - from} ms before the kill and ${excused.length} later fact(s) are missing (over ${input.crash.maxWindowMs} ms: its outbox stopped writing)`);
  return { violations: v, distinct: events.length, repeats, excused, ...(input.crash && from !== undefined ? { crashWindowMs: input.crash.at - from } : {}) };
}

function checkCrash(c: NodeCrash, events: readonly ReceivedEvent[], byConn: Map<string, { disconnect: ReceivedEvent[] }>, bad: (d: string) => void): void {
  const wrong: string[] = [];
  const late: string[] = [];
  for (const o of c.conns) {
    const d = byConn.get(o.conn)?.disconnect[0];
    if (!d) continue; // reported as missing above
    if (d.code !== 1006 || d.reason !== 'node lost') wrong.push(`${o.conn}: ${String(d.code)} "${String(d.reason)}"`);
    else if (d.ts - c.at > c.boundMs) late.push(`${o.conn} disconnect after ${d.ts - c.at} ms`);
  }
  for (const u of c.orphans) {
    const off = events.find((e) => e.type === 'offline' && e.tenant === u.tenant && e.user === u.user && e.ts >= c.at);
    if (!off) wrong.push(`${key(u.tenant, u.user)}: no offline after the crash`);
    else if (off.reason !== 'node lost') wrong.push(`${key(u.tenant, u.user)}: offline reason "${String(off.reason)}", expected "node lost"`);
    else if (off.ts - c.at > c.boundMs) late.push(`${key(u.tenant, u.user)} offline after ${off.ts - c.at} ms`);
  }
  if (wrong.length) bad(`crash of ${c.node}: ${list(wrong)}`);
  if (late.length) bad(`crash of ${c.node}: later than ${c.boundMs} ms: ${list(late)}`);
}

/** Deadlines are checked every second: a deadline due this long before a crash may have been claimed by the dying node. */
const DEADLINE_CHECK_MS = 1000;

function checkUnacked(watch: readonly UnackedWatch[], events: readonly ReceivedEvent[], marginMs: number, bad: (d: string) => void, crash: NodeCrash | undefined, from: number | undefined, excused: string[]): void {
  const fired = new Map<string, ReceivedEvent[]>();
  const acked = new Map<string, number>();
  for (const e of events) {
    const k = `${key(e.tenant, e.user)}#${String(e.seq)}`;
    if (e.type === 'unacked') fired.set(k, [...(fired.get(k) ?? []), e]);
    if (e.type === 'acked') acked.set(k, Math.min(acked.get(k) ?? Infinity, e.ts));
  }
  const missing: string[] = [];
  const wrong: string[] = [];
  for (const w of watch) {
    const k = `${key(w.tenant, w.user)}#${w.seq}`;
    const f = fired.get(k) ?? [];
    if (f.length > 1) wrong.push(`${k}: ${f.length} unacked events`);
    if (f[0] && f[0].message_id !== w.message_id) wrong.push(`${k}: unacked names message ${String(f[0].message_id)}, the publish returned ${w.message_id}`);
    // Claimed by the node that then died, its event unwritten: claimed again only after 60 s (events.md).
    const claimedByTheDead = crash !== undefined && from !== undefined && w.due <= crash.at && w.due >= from - DEADLINE_CHECK_MS;
    if (w.mustFire && f.length === 0) (claimedByTheDead ? excused : missing).push(claimedByTheDead ? `${k}: no unacked (due ${crash.at - w.due} ms before the crash)` : k);
    const ackAt = acked.get(k);
    if (!w.mustFire && f.length > 0 && ackAt !== undefined && ackAt < w.due - marginMs) wrong.push(`${k}: unacked although acked ${w.due - ackAt} ms before the deadline`);
  }
  if (missing.length) bad(`${missing.length} message(s) nobody could ack without an unacked event: ${list(missing)}`);
  if (wrong.length) bad(`unacked: ${list(wrong)}`);
}
