/**
 * Room members for the `rooms` scenario: an SDK device (clients.ts) that joins
 * rooms with `{recover: true}` and records, per room, what its app saw — the
 * join reply, room messages with their offsets, `roomUnrecovered` — and the
 * awareness states of the other members as its app would show them.
 */
import type { HeraldMessage } from '@herald/client';
import type { Device } from './clients.js';
import type { RoomMemberRecording } from './roomInvariants.js';

export class RoomMember {
  /** room → what the app saw there. */
  readonly recordings = new Map<string, RoomMemberRecording>();
  /** room → member key (`user/device`) → the last state frame's data. */
  readonly views = new Map<string, Map<string, unknown>>();
  /** SDK `error` events (e.g. a failed automatic re-join): printed, and a re-join failure is a finding. */
  readonly errors: string[] = [];
  /** Node of each welcome, in order. */
  readonly nodes: string[] = [];

  constructor(readonly device: Device) {
    const c = device.client;
    c.on('connected', (w) => this.nodes.push(w.node));
    c.on('message', (m: HeraldMessage) => {
      if (typeof m.room !== 'string' || typeof m.offset !== 'number') return;
      const data = (m.data ?? {}) as { rp?: unknown };
      this.recordings.get(m.room)?.events.push({ k: 'msg', offset: m.offset, pid: typeof data.rp === 'number' ? data.rp : undefined, room: m.room });
    });
    c.on('roomUnrecovered', (e) => this.recordings.get(e.room)?.events.push({ k: 'unrecovered', offset: e.offset, epoch: e.epoch }));
    c.on('roomState', (e) => this.views.get(e.room)?.set(`${e.user}/${e.device}`, e.data));
    c.on('error', (e) => this.errors.push(e.message));
  }

  /** `user/device`, as state frames name a member. */
  get key(): string {
    return `${this.device.spec.user}/${this.device.spec.device}`;
  }

  /** The node of the current connection. */
  get node(): string | undefined {
    return this.device.client.welcome?.node;
  }

  /** Joins with recovery; the reply is recorded as the start of what is owed. */
  async join(room: string): Promise<void> {
    const rec: RoomMemberRecording = { key: this.device.rec.key, tenant: this.device.spec.tenant, room, events: [] };
    this.recordings.set(room, rec);
    this.views.set(room, new Map());
    const r = await this.device.client.join(room, { recover: true });
    if (typeof r.offset !== 'number' || typeof r.epoch !== 'string') throw new Error(`join ${room}: the reply has no offset/epoch (history off?): ${JSON.stringify(r)}`);
    rec.events.push({ k: 'join', offset: r.offset, epoch: r.epoch });
  }

  /** Rooms the SDK still keeps joined (a failed automatic re-join drops one). */
  get rooms(): string[] {
    return this.device.client.rooms;
  }
}
