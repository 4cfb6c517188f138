/**
 * Awareness states this node relayed to its members from other nodes, by the
 * incarnation of the node holding each one: what this node must clear for its
 * members when that incarnation dies, since the dead node never sends the
 * `state: null` a leave or disconnect would have.
 *
 * States a member here saw listed in a `presence` reply count too: it joined
 * after they were set, and must see them cleared all the same.
 *
 * Identities only (tenant, room, user, device, origin), never the state data;
 * only rooms with a member on this node; an entry leaves when its member's
 * clear is relayed, when the room has no member here any more, or when its
 * origin dies (then it is cleared once). Every origin with entries is watched
 * (`NodeLiveness`), one check per node per heartbeat.
 */
import type { NodeLiveness } from '../engine/types.js';

export interface RelayedState {
  tenant: string;
  room: string;
  user: string;
  device: string;
}

const SEP = '\u0000';

export class RelayedStates {
  /** tenant\0room → user\0device → origin incarnation. */
  private readonly rooms = new Map<string, Map<string, string>>();
  /** Entries per origin: watched while non-zero. */
  private readonly origins = new Map<string, number>();

  constructor(private readonly liveness: NodeLiveness | undefined) {}

  get size(): number {
    let n = 0;
    for (const m of this.rooms.values()) n += m.size;
    return n;
  }

  /** Entries of one room. */
  inRoom(tenant: string, room: string): number {
    return this.rooms.get(tenant + SEP + room)?.size ?? 0;
  }

  /** A state of `user`/`device` held by `origin` was relayed to members here. */
  set(tenant: string, room: string, user: string, device: string, origin: string): void {
    const rk = tenant + SEP + room;
    let m = this.rooms.get(rk);
    if (!m) this.rooms.set(rk, (m = new Map()));
    const k = user + SEP + device;
    const was = m.get(k);
    if (was === origin) return;
    m.set(k, origin);
    if (was !== undefined) this.release(was);
    const n = this.origins.get(origin) ?? 0;
    this.origins.set(origin, n + 1);
    if (n === 0) this.liveness?.watch(origin);
  }

  /** As `set`, unless an entry exists: a relayed event is newer than a listing read before it. */
  learn(tenant: string, room: string, user: string, device: string, origin: string): void {
    if (this.rooms.get(tenant + SEP + room)?.has(user + SEP + device)) return;
    this.set(tenant, room, user, device, origin);
  }

  /** Its clear was relayed. */
  clear(tenant: string, room: string, user: string, device: string): void {
    const rk = tenant + SEP + room;
    const m = this.rooms.get(rk);
    const k = user + SEP + device;
    const origin = m?.get(k);
    if (!m || origin === undefined) return;
    m.delete(k);
    if (m.size === 0) this.rooms.delete(rk);
    this.release(origin);
  }

  /** No member of the room is left on this node: nobody here to tell. */
  dropRoom(tenant: string, room: string): void {
    const rk = tenant + SEP + room;
    const m = this.rooms.get(rk);
    if (!m) return;
    this.rooms.delete(rk);
    for (const origin of m.values()) this.release(origin);
  }

  /** `origin` died: its entries leave, returned for the caller to clear (once each). */
  gone(origin: string): RelayedState[] {
    const out: RelayedState[] = [];
    this.origins.delete(origin);
    for (const [rk, m] of this.rooms) {
      for (const [k, o] of m) {
        if (o !== origin) continue;
        m.delete(k);
        const i = rk.indexOf(SEP);
        const j = k.indexOf(SEP);
        out.push({ tenant: rk.slice(0, i), room: rk.slice(i + 1), user: k.slice(0, j), device: k.slice(j + 1) });
      }
      if (m.size === 0) this.rooms.delete(rk);
    }
    return out;
  }

  private release(origin: string): void {
    const n = (this.origins.get(origin) ?? 0) - 1;
    if (n > 0) return void this.origins.set(origin, n);
    this.origins.delete(origin);
    this.liveness?.unwatch(origin);
  }
}
