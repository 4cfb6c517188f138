/**
 * The seeded entries of the ingest scenario: valid publish bodies to users,
 * several users or one device of the scenario's fleet, and poison entries of
 * every kind each source must dead-letter, with the reason docs/ingest.md
 * says it records.
 */
import type { DeviceSpec } from '../clients.js';
import type { Rng } from '../rng.js';
import { AMQP_MAX_BYTES } from './amqpBroker.js';
import type { Outgoing } from './broker.js';
import { entryBody, type IngestEntry, type IngestKind } from './entries.js';

/** Nesting deeper than the default maxJsonDepth (32). */
const DEEP = 40;
/** `data` over the default maxMessageBytes (64 KiB): the pipeline refuses it (413). */
const BIG_DATA = 70 * 1024;

interface Poison {
  label: string;
  reason: RegExp;
  bytes(e: IngestEntry): Buffer;
}

const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));
const nested = (depth: number): unknown => (depth <= 0 ? 0 : [nested(depth - 1)]);

const NOT_JSON: Poison = { label: 'not JSON', reason: /^payload is not JSON: /, bytes: (e) => Buffer.from(`{"to":{"user":"${e.users[0]}"},"data":{"e":"${e.id}"`) };
const UNKNOWN_FIELD: Poison = { label: 'unknown field', reason: /^rejected \(400\): .*colour/, bytes: (e) => json({ ...entryBody(e), colour: 'red' }) };
const NOT_OBJECT: Poison = { label: 'not an object', reason: /^rejected \(400\): /, bytes: (e) => json([e.id]) };
const NO_TARGET: Poison = { label: 'empty target', reason: /^rejected \(400\): /, bytes: (e) => json({ to: {}, data: { e: e.id, p: e.pid } }) };
const BIG: Poison = { label: 'data over maxMessageBytes', reason: /^rejected \(413\): /, bytes: (e) => json({ ...entryBody(e), data: { e: e.id, p: e.pid, pad: 'x'.repeat(BIG_DATA) } }) };
const DEEP_BODY: Poison = { label: 'nested too deep', reason: /^payload nests deeper than 32 levels$/, bytes: (e) => json({ ...entryBody(e), data: { e: e.id, x: nested(DEEP) } }) };
const NOT_UTF8: Poison = { label: 'not UTF-8', reason: /^payload is not UTF-8$/, bytes: (e) => Buffer.concat([Buffer.from([0xc3, 0x28, 0xff]), Buffer.from(e.id)]) };
const OVER_AMQP_MAX: Poison = {
  label: 'over ingestAmqpMaxBytes',
  reason: new RegExp(`^body of \\d+ bytes is over the limit of ${AMQP_MAX_BYTES} \\(ingestAmqpMaxBytes\\)$`),
  bytes: (e) => json({ ...entryBody(e), data: { e: e.id, pad: 'x'.repeat(AMQP_MAX_BYTES + 1024) } }),
};

/** The poison kinds each source can receive (a jsonb column holds only JSON; only NATS sees raw bytes). */
export const POISONS: Record<IngestKind, Poison[]> = {
  amqp: [NOT_JSON, UNKNOWN_FIELD, NOT_OBJECT, NO_TARGET, BIG, OVER_AMQP_MAX],
  nats: [NOT_JSON, UNKNOWN_FIELD, NOT_OBJECT, NO_TARGET, BIG, DEEP_BODY, NOT_UTF8],
  pg: [UNKNOWN_FIELD, NOT_OBJECT, NO_TARGET, BIG, DEEP_BODY],
};

/** Makes the entries of one source, numbering publish ids from `firstPid`. */
export class Workload {
  readonly entries: IngestEntry[] = [];
  private n = 0;

  constructor(
    readonly kind: IngestKind,
    private readonly specs: readonly DeviceSpec[],
    private readonly rng: Rng,
    private nextPid: number,
  ) {}

  /** A valid entry: to one user (most), to two users, or to one device. */
  valid(): Outgoing {
    const s = this.rng.pick(this.specs);
    const roll = this.rng.next();
    const e = this.entry('valid', s.tenant, [s.user]);
    if (roll < 0.15) {
      const other = this.rng.pick(this.specs.filter((x) => x.user !== s.user && x.tenant === s.tenant));
      e.users = [s.user, other.user];
    } else if (roll < 0.3) {
      e.device = s.device;
    }
    return { entry: e, bytes: json(entryBody(e)) };
  }

  /** A poison entry of the given kind (default: seeded among the source's kinds). */
  poison(p: Poison = this.rng.pick(POISONS[this.kind])): Outgoing {
    const s = this.rng.pick(this.specs);
    const e = this.entry('poison', s.tenant, [s.user]);
    e.reason = p.reason;
    e.label = p.label;
    return { entry: e, bytes: p.bytes(e) };
  }

  /** A valid-looking entry the producer will roll back (PostgreSQL): it must leave no trace. */
  rolledBack(): Outgoing {
    const o = this.valid();
    o.entry.fate = 'void';
    return o;
  }

  private entry(fate: IngestEntry['fate'], tenant: string, users: string[]): IngestEntry {
    const e: IngestEntry = { id: `${this.kind}-${this.n++}`, source: this.kind, fate, pid: this.nextPid++, tenant, users, confirmed: false, sends: 0 };
    this.entries.push(e);
    return e;
  }
}
