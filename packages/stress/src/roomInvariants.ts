/**
 * Invariants of rooms with history and of awareness state (docs/delivery.md,
 * "Rooms with history" and "Awareness state"), as pure functions over
 * recordings so each can be fed a bad recording in a unit test and shown to fail.
 */
import type { Violation } from './invariants.js';

/** One room publish (HTTP API or a member's `publish`) and its answer. */
export interface RoomPublishRecord {
  /** Run-unique id, carried in the message data as `rp`. */
  pid: number;
  tenant: string;
  room: string;
  /** 200 (API) / 'ok' reply (client): the offset is known; 0: no answer or an error — it may or may not be stored. */
  status: number;
  offset?: number;
  epoch?: string;
}

/** What one member's app saw in one room, in arrival order. */
export type RoomEvent =
  /** The reply to the app's own `join` (the first one): owed are the offsets after it. */
  | { k: 'join'; offset: number; epoch: string }
  | { k: 'msg'; offset: number; pid: number | undefined; room: string }
  /** `roomUnrecovered`: the SDK said it could not replay; the room continues live from `offset`. */
  | { k: 'unrecovered'; offset: number; epoch: string };

export interface RoomMemberRecording {
  key: string;
  tenant: string;
  room: string;
  events: RoomEvent[];
}

const MAX_LISTED = 8;
const list = (xs: readonly (number | string)[]): string => (xs.length > MAX_LISTED ? `${xs.slice(0, MAX_LISTED).join(', ')}, … (${xs.length})` : xs.join(', '));

/** Missing offsets from..to inclusive, listed compactly. */
function span(from: number, to: number): string {
  return from === to ? String(from) : `${from}–${to}`;
}

/**
 * Each member sees every room message once, in order, OR is told (`roomUnrecovered`):
 * - after its first join reply (offset S), offsets S+1, S+2, … arrive without a gap; a jump is
 *   allowed only right after an `unrecovered` marker (which moves the start to its offset);
 * - no offset twice, never a lower offset after a higher one (the SDK promises each offset
 *   once, in order, in rooms joined with `recover: true`);
 * - the tail: every offset up to the room's newest known one (any acknowledged publish, any
 *   delivery) arrived — offsets are dense per room, so an unanswered publish that was stored
 *   is owed too;
 * - a message carries the offset its publish was answered with, and belongs to this room and tenant.
 * `missingOnly` reports just what has not arrived yet (for polling until delivery completes).
 */
export function checkRoomDelivery(publishes: readonly RoomPublishRecord[], members: readonly RoomMemberRecording[], missingOnly = false): Violation[] {
  const out: Violation[] = [];
  const byPid = new Map<number, RoomPublishRecord>();
  const top = new Map<string, number>();
  const bump = (tenant: string, room: string, offset: number): void => {
    const k = `${tenant}/${room}`;
    top.set(k, Math.max(top.get(k) ?? 0, offset));
  };
  for (const p of publishes) {
    byPid.set(p.pid, p);
    if (p.offset !== undefined) bump(p.tenant, p.room, p.offset);
  }
  for (const m of members) for (const e of m.events) if (e.k === 'msg' && e.room === m.room) bump(m.tenant, m.room, e.offset);
  for (const m of members) {
    let last: number | undefined; // highest offset accounted for since the first join reply
    let seenBefore = -Infinity; // before the join reply: only order is checked
    const gaps: string[] = [];
    const dups: number[] = [];
    const reorders: string[] = [];
    const foreign: string[] = [];
    const mismatched: string[] = [];
    const seen = new Set<number>();
    for (const e of m.events) {
      if (e.k === 'join') {
        if (last !== undefined) continue;
        // Live messages may overtake the reply: those above its offset must start right after it.
        for (let o = e.offset + 1; o < seenBefore; o++) if (!seen.has(o)) gaps.push(String(o));
        last = Math.max(e.offset, seenBefore);
        continue;
      }
      if (e.k === 'unrecovered') {
        last = e.offset;
        seen.clear();
        seenBefore = -Infinity;
        continue;
      }
      if (e.room !== m.room) {
        foreign.push(`offset ${e.offset} of room ${e.room}`);
        continue;
      }
      const p = e.pid === undefined ? undefined : byPid.get(e.pid);
      if (!p || p.tenant !== m.tenant || p.room !== m.room) foreign.push(`offset ${e.offset} (publish ${String(e.pid)}${p ? ` to ${p.tenant}/${p.room}` : ', unknown'})`);
      else if (p.offset !== undefined && p.offset !== e.offset) mismatched.push(`publish ${p.pid}: answered offset ${p.offset}, delivered ${e.offset}`);
      if (seen.has(e.offset)) dups.push(e.offset);
      else if (e.offset < Math.max(last ?? -Infinity, seenBefore)) reorders.push(`${e.offset} after ${Math.max(last ?? -Infinity, seenBefore)}`);
      else if (last !== undefined && e.offset > last + 1) gaps.push(span(last + 1, e.offset - 1));
      seen.add(e.offset);
      if (last === undefined) seenBefore = Math.max(seenBefore, e.offset);
      else last = Math.max(last, e.offset);
    }
    const newest = top.get(`${m.tenant}/${m.room}`) ?? 0;
    if (last === undefined) {
      if (!missingOnly) out.push({ invariant: 'delivery', detail: `${m.key} ${m.room}: no join reply recorded` });
      continue;
    }
    if (newest > last) gaps.push(`${span(last + 1, newest)} (never arrived)`);
    if (missingOnly) {
      if (newest > last) out.push({ invariant: 'delivery', detail: `${m.key} ${m.room}: missing ${span(last + 1, newest)}` });
      continue;
    }
    if (gaps.length) out.push({ invariant: 'delivery', detail: `${m.key} ${m.room}: silent gap (no recovered:false), offsets ${list(gaps)} missing` });
    if (dups.length) out.push({ invariant: 'delivery', detail: `${m.key} ${m.room}: offset delivered twice to the app: ${list(dups)}` });
    if (reorders.length) out.push({ invariant: 'delivery', detail: `${m.key} ${m.room}: out of order: ${list(reorders)}` });
    if (foreign.length) out.push({ invariant: 'isolation', detail: `${m.key} ${m.room}: messages not of this room: ${list(foreign)}` });
    if (mismatched.length) out.push({ invariant: 'delivery', detail: `${m.key} ${m.room}: offset differs from the publish's answer: ${list(mismatched)}` });
  }
  return out;
}

/**
 * Awareness: what a viewer shows for each other member equals that member's real
 * latest state — a member of a killed node that set nothing since shows cleared
 * (null or never seen), one that reconnected and set a new state shows that one.
 * `truth`: member key → its current state (null: none); `views`: viewer key →
 * member key → last state frame's data. Only members in `truth` are compared.
 */
export function checkAwareness(room: string, truth: ReadonlyMap<string, unknown>, views: ReadonlyMap<string, ReadonlyMap<string, unknown>>): Violation[] {
  const out: Violation[] = [];
  for (const [viewer, view] of views) {
    const wrong: string[] = [];
    for (const [member, want] of truth) {
      if (member === viewer) continue;
      const got = view.has(member) ? view.get(member) : null;
      if (JSON.stringify(got ?? null) !== JSON.stringify(want ?? null)) wrong.push(`${member}: shows ${JSON.stringify(got ?? null)}, is ${JSON.stringify(want ?? null)}`);
    }
    if (wrong.length) out.push({ invariant: 'scenario', detail: `awareness in ${room}, as ${viewer} sees it: ${list(wrong)}` });
  }
  return out;
}
