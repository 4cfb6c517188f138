/**
 * Room messages for the `rooms` scenario: through the HTTP API of a seeded
 * live node, or by a member's `publish` on its own connection. Every answer is
 * recorded (the offset and epoch of a room with history); the data carries
 * the publish id (`rp`) and tenant, so each delivery maps back to its publish.
 */
import { httpRequest } from './http.js';
import type { RoomMember } from './roomMembers.js';
import type { RoomPublishRecord } from './roomInvariants.js';
import type { Rng } from './rng.js';

export class RoomPublisher {
  readonly records: RoomPublishRecord[] = [];
  private nextPid = 1;

  constructor(
    private readonly apiKey: string,
    private readonly rng: Rng,
    private readonly ports: () => number[],
  ) {}

  private record(tenant: string, room: string): RoomPublishRecord {
    const rec: RoomPublishRecord = { pid: this.nextPid++, tenant, room, status: 0 };
    this.records.push(rec);
    return rec;
  }

  async viaApi(tenant: string, room: string): Promise<void> {
    const rec = this.record(tenant, room);
    const ports = this.ports();
    try {
      const r = await httpRequest(ports.length ? this.rng.pick(ports) : 0, 'POST', '/api/v1/publish', {
        apiKey: this.apiKey,
        body: { to: { room, tenant }, data: { rp: rec.pid, t: tenant, pad: this.rng.text(this.rng.int(0, 64)) } },
        timeoutMs: 10_000,
      });
      rec.status = r.status;
      if (r.status === 200) {
        const b = JSON.parse(r.body) as { offset?: number; epoch?: string };
        if (b.offset !== undefined) rec.offset = b.offset;
        if (b.epoch !== undefined) rec.epoch = b.epoch;
      }
    } catch {
      rec.status = 0;
    }
  }

  /** A member's own `publish` (a client frame); a drop before the reply leaves it ambiguous (status 0). */
  async viaMember(m: RoomMember, room: string): Promise<void> {
    const rec = this.record(m.device.spec.tenant, room);
    try {
      const r = await m.device.client.publish(room, { rp: rec.pid, t: rec.tenant });
      rec.status = 200;
      if (typeof r.offset === 'number') rec.offset = r.offset;
      if (typeof r.epoch === 'string') rec.epoch = r.epoch;
    } catch {
      rec.status = 0;
    }
  }

  /**
   * Room messages at about `ratePerSec` for `durationMs`: a share `memberShare` by members
   * (seeded member and room), the rest through the API; at most `concurrency` in flight.
   */
  async stream(rooms: readonly string[], members: readonly RoomMember[], tenant: string, o: { ratePerSec: number; durationMs: number; memberShare: number; concurrency?: number }): Promise<void> {
    const total = Math.max(1, Math.round((o.ratePerSec * o.durationMs) / 1000));
    const gap = 1000 / o.ratePerSec;
    const started = Date.now();
    const pending = new Set<Promise<unknown>>();
    const cap = o.concurrency ?? 16;
    for (let i = 0; i < total && Date.now() - started < o.durationMs + 5000; i++) {
      const wait = started + i * gap - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      if (pending.size >= cap) await Promise.race(pending);
      let p: Promise<void>;
      const by = this.rng.chance(o.memberShare) ? this.rng.pick(members) : undefined;
      const theirs = by?.rooms.filter((r) => by.recordings.has(r)) ?? [];
      if (by && theirs.length > 0) p = this.viaMember(by, this.rng.pick(theirs));
      else p = this.viaApi(tenant, this.rng.pick(rooms));
      const q = p.finally(() => pending.delete(q));
      pending.add(q);
    }
    await Promise.all(pending);
  }

  summary(): { total: number; ok: number; failed: number } {
    const ok = this.records.filter((r) => r.status === 200).length;
    return { total: this.records.length, ok, failed: this.records.length - ok };
  }
}
