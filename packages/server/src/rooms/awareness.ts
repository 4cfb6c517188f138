/**
 * Awareness state (cursor, selection, "typing") of a connection in a room.
 *
 * Coalesced: the first update of a (connection, room) opens a window of
 * `roomStateFlushMs`; updates within it replace the pending value, and when
 * it closes members get the latest one (one frame, and one engine write),
 * not every move. Bounded: `roomStateMaxBytes` per state (error
 * payload_too_large) and a per-connection token bucket (error rate_limited).
 * Stored with the member record (engine `roomState`), so presence lists it
 * and leave, disconnect and node death clear it with the membership.
 *
 * Across nodes a state travels as a `state` bus event naming the incarnation
 * of the member's node. Leave and disconnect send the clear from that node; a
 * node that dies sends nothing, so every node remembers which states it
 * relayed from which incarnation (relayedStates.ts) and, when the engine
 * finds that incarnation dead (`engine.liveness`), sends `data: null` for
 * them to its own members, once each.
 */
import { ErrorCode } from '@herald/protocol';
import type { HeraldConfig } from '../config/schema.js';
import type { DeliveryHub } from '../delivery/hub.js';
import type { DeliverySession } from '../delivery/session.js';
import type { BusEvent, Engine, RoomMember } from '../engine/types.js';
import { EncodedFrame } from '../protocol/encodedFrame.js';
import { KeyedBuckets } from '../limits/tokenBucket.js';
import type { Logger } from '../observability/logger.js';
import { RelayedStates } from './relayedStates.js';

export interface AwarenessMember extends DeliverySession {
  readonly id: string;
  readonly tenant: string;
  readonly user: string;
  readonly device: string;
}

interface Pending {
  c: AwarenessMember;
  room: string;
  /** JSON text, or null to clear. */
  data: string | null;
  timer: NodeJS.Timeout | undefined;
}

export function stateFrame(room: string, user: string, device: string, data: string | null): string {
  return '{"type":"state","room":' + JSON.stringify(room) + ',"user":' + JSON.stringify(user) + ',"device":' + JSON.stringify(device) + ',"data":' + (data ?? 'null') + '}';
}

const stateKey = (tenant: string, room: string, user: string, device: string): string => [tenant, room, user, device].join('\u0000');

/** A refusal: the error code and message for the client. */
export type StateRefusal = { code: string; message: string };

export class Awareness {
  private readonly buckets: KeyedBuckets;
  private readonly pending = new Map<string, Pending>();
  /** Rooms where a connection has a state members were told about. */
  private readonly shown = new Map<AwarenessMember, Set<string>>();
  /** States of other nodes' members relayed to members here. */
  readonly relayed: RelayedStates;
  /** This node's incarnation, named in the state events it publishes. */
  private readonly origin: string;

  constructor(
    private readonly config: Pick<HeraldConfig, 'roomStateMaxBytes' | 'roomStateRatePerConn' | 'roomStateBurstPerConn' | 'roomStateFlushMs'>,
    private readonly hub: DeliveryHub,
    private readonly engine: Pick<Engine, 'roomState' | 'publish' | 'liveness'>,
    private readonly nodeId: string,
    private readonly log: Logger,
  ) {
    this.buckets = new KeyedBuckets({ ratePerSec: config.roomStateRatePerConn, burst: config.roomStateBurstPerConn });
    this.relayed = new RelayedStates(engine.liveness);
    this.origin = engine.liveness?.self ?? nodeId;
    hub.onStateEvent = (ev) => this.fromNode(ev);
    engine.liveness?.onGone((origin) => this.originGone(origin));
  }

  /** A `state` frame of a member; undefined when taken, else the refusal. */
  set(c: AwarenessMember, room: string, data: unknown): StateRefusal | undefined {
    if (!c.rooms?.has(room)) return { code: ErrorCode.NotJoined, message: `join room "${room}" before setting state in it` };
    if (this.buckets.take(c.id) > 0) return { code: ErrorCode.RateLimited, message: 'state rate limit exceeded; slow down' };
    const json = data === null ? null : JSON.stringify(data);
    if (json === undefined) return { code: ErrorCode.BadField, message: 'field "data" must be JSON' };
    if (json !== null && Buffer.byteLength(json) > this.config.roomStateMaxBytes) {
      return { code: ErrorCode.PayloadTooLarge, message: `state of ${Buffer.byteLength(json)} bytes is over the limit of ${this.config.roomStateMaxBytes}` };
    }
    const key = c.id + '\u0000' + room;
    const p = this.pending.get(key);
    if (p) {
      p.data = json;
      return undefined;
    }
    const entry: Pending = { c, room, data: json, timer: undefined };
    if (this.config.roomStateFlushMs === 0) {
      this.flush(entry);
      return undefined;
    }
    this.pending.set(key, entry);
    entry.timer = setTimeout(() => {
      this.pending.delete(key);
      this.flush(entry);
    }, this.config.roomStateFlushMs);
    entry.timer.unref();
    return undefined;
  }

  /**
   * `c` left `room` (leave, disconnect, replacement): a pending update is
   * dropped and, when members saw a state of it, they are told it is cleared.
   * The stored state goes with the member record (roomLeave).
   */
  left(c: AwarenessMember, room: string): void {
    const key = c.id + '\u0000' + room;
    const p = this.pending.get(key);
    if (p) {
      clearTimeout(p.timer);
      this.pending.delete(key);
    }
    // Nobody here is left to tell about other nodes' states in this room.
    if (this.hub.registry.roomSize(c.tenant, room) === 0) this.relayed.dropRoom(c.tenant, room);
    const rooms = this.shown.get(c);
    if (!rooms?.delete(room)) return;
    if (rooms.size === 0) this.shown.delete(c);
    this.send(c, room, null);
  }

  /** A state event from another node: to the members here, remembered by its origin until cleared. */
  private fromNode(ev: Extract<BusEvent, { kind: 'state' }>): void {
    if (this.hub.registry.roomSize(ev.tenant, ev.room) === 0) return;
    if (ev.data === null) this.relayed.clear(ev.tenant, ev.room, ev.user, ev.device);
    else this.relayed.set(ev.tenant, ev.room, ev.user, ev.device, ev.origin);
    this.hub.deliverLocal({ kind: 'room', tenant: ev.tenant, room: ev.room }, stateFrame(ev.room, ev.user, ev.device, ev.data));
  }

  /**
   * `c`, a member of `room`, was shown these states in a `presence` reply: other nodes' ones are
   * remembered as if relayed (a member that joined after they were set must see them cleared too).
   */
  async listed(c: AwarenessMember, room: string, members: readonly RoomMember[]): Promise<void> {
    const tenant = c.tenant;
    const liveness = this.engine.liveness;
    if (!liveness) return;
    const nodes = new Map<string, Promise<string | undefined>>();
    for (const m of members) {
      if (m.state === undefined || m.node === this.nodeId) continue;
      let inc = nodes.get(m.node);
      if (!inc) nodes.set(m.node, (inc = liveness.incarnationOf(m.node)));
      const origin = await inc;
      if (c.state !== 'active' || !c.rooms?.has(room)) return;
      // Dead since the listing was read: cleared at once for `c` (the others here were not shown it).
      if (origin === undefined) c.send(EncodedFrame.ofText(stateFrame(room, m.user, m.device, null)));
      else this.relayed.learn(tenant, room, m.user, m.device, origin);
    }
  }

  /** A node incarnation died: the states relayed from it are cleared for the members here (each node does its own). */
  private originGone(origin: string): void {
    const lost = this.relayed.gone(origin);
    if (lost.length === 0) return;
    // A member of the dead node that came back here and set a new state shows that one: not cleared.
    const shownHere = new Set<string>();
    for (const [c, rooms] of this.shown) for (const room of rooms) shownHere.add(stateKey(c.tenant, room, c.user, c.device));
    for (const s of lost) {
      if (shownHere.has(stateKey(s.tenant, s.room, s.user, s.device))) continue;
      this.hub.deliverLocal({ kind: 'room', tenant: s.tenant, room: s.room }, stateFrame(s.room, s.user, s.device, null));
    }
    this.log.info({ origin, cleared: lost.length }, 'awareness states of a dead node cleared');
  }

  /** To the members here and, as a state event naming this incarnation, on other nodes. */
  private send(c: AwarenessMember, room: string, data: string | null): void {
    this.hub.deliverLocal({ kind: 'room', tenant: c.tenant, room }, stateFrame(room, c.user, c.device, data));
    const ev: BusEvent = { kind: 'state', tenant: c.tenant, room, user: c.user, device: c.device, data, origin: this.origin };
    this.engine.publish(ev).catch((err: unknown) => this.log.warn({ err }, 'cross-node state publish failed'));
  }

  private flush(p: Pending): void {
    const { c, room, data } = p;
    if (c.state !== 'active' || !c.rooms?.has(room)) return;
    let rooms = this.shown.get(c);
    if (data === null) {
      if (!rooms?.delete(room)) return; // nothing shown: nothing to clear
      if (rooms.size === 0) this.shown.delete(c);
    } else {
      if (!rooms) this.shown.set(c, (rooms = new Set()));
      rooms.add(room);
    }
    this.send(c, room, data);
    const member: RoomMember = { user: c.user, device: c.device, node: this.nodeId };
    this.engine.roomState(c.tenant, room, member, data ?? undefined).catch((err: unknown) => this.log.warn({ err }, 'room state write failed'));
  }
}

/** Members as presence answers list them: the state as JSON, not text. */
export function membersWithState(members: RoomMember[]): { user: string; device: string; state?: unknown }[] {
  return members.map((m) => {
    if (m.state === undefined) return { user: m.user, device: m.device };
    let state: unknown = null;
    try {
      state = JSON.parse(m.state);
    } catch {
      // a corrupt record lists no state
    }
    return { user: m.user, device: m.device, state };
  });
}
