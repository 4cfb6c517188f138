/**
 * Publishes reliable messages through the HTTP API of the live nodes and
 * records every answer (status, seqs). Payloads are seeded.
 */
import { httpRequest } from './http.js';
import type { PublishRecord } from './recording.js';
import type { Rng } from './rng.js';

export interface PublishTarget {
  tenant: string;
  users: string[];
  device?: string;
}

export class Publisher {
  readonly records: PublishRecord[] = [];
  private nextPid = 1;
  private index = 0;
  inFlight = 0;

  constructor(
    private readonly apiKey: string,
    private readonly rng: Rng,
    /** Ports of the nodes to publish through (chosen per publish, seeded). */
    private readonly ports: () => number[],
  ) {}

  /** The position the next publish will get. */
  position(): number {
    return this.index;
  }

  async publish(t: PublishTarget, padBytes = 0): Promise<PublishRecord> {
    const rec: PublishRecord = { pid: this.nextPid++, tenant: t.tenant, users: t.users, status: 0, index: this.index++ };
    if (t.device !== undefined) rec.device = t.device;
    this.records.push(rec);
    const to: Record<string, unknown> = t.users.length === 1 ? { user: t.users[0], tenant: t.tenant } : { users: t.users, tenant: t.tenant };
    if (t.device !== undefined) to.device = t.device;
    const data = { p: rec.pid, t: t.tenant, pad: padBytes > 0 ? this.rng.text(padBytes) : '' };
    const ports = this.ports();
    const port = ports.length ? this.rng.pick(ports) : 0;
    this.inFlight++;
    try {
      const r = await httpRequest(port, 'POST', '/api/v1/publish', { apiKey: this.apiKey, body: { to, data, reliable: true }, timeoutMs: 20_000 });
      rec.status = r.status;
      if (r.status === 200) {
        const body = JSON.parse(r.body) as { seq?: Record<string, number> };
        if (body.seq) rec.seq = body.seq;
      }
    } catch {
      rec.status = 0;
    } finally {
      this.inFlight--;
    }
    return rec;
  }

  /** An ephemeral message (room / tenant / user: `reliable: false`), tagged with its tenant for isolation checks. */
  async publishEphemeral(to: Record<string, unknown>, tenant: string): Promise<number> {
    const ports = this.ports();
    try {
      const r = await httpRequest(this.rng.pick(ports), 'POST', '/api/v1/publish', { apiKey: this.apiKey, body: { to, data: { t: tenant }, reliable: false }, timeoutMs: 10_000 });
      return r.status;
    } catch {
      return 0;
    }
  }

  /**
   * Publishes to seeded targets at about `ratePerSec` for `durationMs` (bounded by count too),
   * with at most `concurrency` requests in flight. Resolves when every request has an answer.
   */
  async stream(targets: readonly PublishTarget[], o: { ratePerSec: number; durationMs: number; concurrency?: number; padBytes?: number; stop?: () => boolean }): Promise<void> {
    const total = Math.max(1, Math.round((o.ratePerSec * o.durationMs) / 1000));
    const gap = 1000 / o.ratePerSec;
    const started = Date.now();
    const pending = new Set<Promise<unknown>>();
    const cap = o.concurrency ?? 16;
    for (let i = 0; i < total && Date.now() - started < o.durationMs + 5000; i++) {
      if (o.stop?.()) break;
      const due = started + i * gap;
      const wait = due - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      if (pending.size >= cap) await Promise.race(pending);
      const p = this.publish(this.rng.pick(targets), o.padBytes ?? 0).finally(() => pending.delete(p));
      pending.add(p);
    }
    await Promise.all(pending);
  }

  summary(from = 0): { total: number; ok: number; s5xx: number; s4xx: number; noAnswer: number } {
    const rs = this.records.slice(from);
    return {
      total: rs.length,
      ok: rs.filter((r) => r.status === 200).length,
      s5xx: rs.filter((r) => r.status >= 500).length,
      s4xx: rs.filter((r) => r.status >= 400 && r.status < 500).length,
      noAnswer: rs.filter((r) => r.status === 0).length,
    };
  }
}
