/**
 * NATS JetStream for the ingest scenario (docs/ingest.md#nats-jetstream): a
 * stream and subject unique to the run, created by the nodes; the producer
 * publishes with a `msgID` (the entry id: a producer retry is dropped by
 * JetStream's duplicate window) and keeps the stream sequence of the PubAck,
 * which the dead letters name in `Herald-Stream-Seq`.
 */
import { connect, type JetStreamManager, type NatsConnection } from 'nats';
import { bestEffort, type Broker, type Outgoing } from './broker.js';
import type { DeadLetterRecord } from './entries.js';

const URL = process.env.HERALD_STRESS_NATS_URL ?? 'nats://127.0.0.1:4222';
/** Short, so entries held by a killed node come back within the scenario. */
export const NATS_ACK_WAIT_MS = 2000;

export class NatsBroker implements Broker {
  readonly kind = 'nats';
  readonly upstream: { host: string; port: number };
  readonly stream: string;
  readonly subject: string;
  private nc: NatsConnection | undefined;
  private jsm: JetStreamManager | undefined;

  constructor(tag: string) {
    this.stream = `HERALD_STRESS_${tag.toUpperCase()}`;
    this.subject = `herald.stress.${tag}`;
    const u = new globalThis.URL(URL.replace(/^nats:/, 'http:'));
    this.upstream = { host: u.hostname, port: Number(u.port || 4222) };
  }

  get deadStream(): string {
    return `${this.stream}_DEAD`;
  }

  nodeEnv(proxyPort: number): Record<string, string> {
    return {
      HERALD_INGEST_NATS_URL: `nats://127.0.0.1:${proxyPort}`,
      HERALD_INGEST_NATS_STREAM: this.stream,
      HERALD_INGEST_NATS_SUBJECT: this.subject,
      HERALD_INGEST_NATS_DURABLE: 'herald',
      HERALD_INGEST_NATS_ACK_WAIT_MS: String(NATS_ACK_WAIT_MS),
      HERALD_INGEST_NATS_BATCH: '4', // pulled entries wait their turn: keep them within the short ack wait
      HERALD_INGEST_NATS_RETRY_DELAY_MS: '200',
      HERALD_INGEST_NATS_TIMEOUT_MS: '3000',
    };
  }

  async open(): Promise<void> {
    this.nc = await connect({ servers: URL, timeout: 5000 });
    this.jsm = await this.nc.jetstreamManager({ timeout: 5000 });
  }

  async produce(batch: readonly Outgoing[]): Promise<void> {
    const js = this.need().jetstream({ timeout: 5000 });
    await Promise.all(
      batch.map(async ({ entry, bytes }) => {
        entry.sends++;
        try {
          const pa = await js.publish(this.subject, bytes, { msgID: entry.id });
          entry.ref = String(pa.seq);
          entry.confirmed = true;
        } catch {
          // not confirmed: ambiguous (the checker allows either outcome, at most once)
        }
      }),
    );
  }

  async backlog(): Promise<number> {
    return (await this.jsm!.streams.info(this.stream)).state.messages;
  }

  async deadCount(): Promise<number> {
    return (await this.jsm!.streams.info(this.deadStream)).state.messages;
  }

  async deadLetters(): Promise<DeadLetterRecord[]> {
    const jsm = this.jsm!;
    const st = (await jsm.streams.info(this.deadStream)).state;
    const out: DeadLetterRecord[] = [];
    for (let seq = st.first_seq; st.messages > 0 && seq <= st.last_seq; seq++) {
      const m = await jsm.streams.getMessage(this.deadStream, { seq }).catch(() => undefined);
      if (!m) continue;
      out.push({ source: 'nats', ref: m.header.get('Herald-Stream-Seq'), reason: m.header.get('Herald-Dead-Reason') });
    }
    return out;
  }

  async cleanup(): Promise<void> {
    const nc = this.nc;
    const jsm = this.jsm;
    if (!nc) return;
    await bestEffort(
      async () => jsm?.streams.delete(this.stream),
      async () => jsm?.streams.delete(this.deadStream),
      () => nc.drain(),
    );
    this.nc = undefined;
  }

  private need(): NatsConnection {
    if (!this.nc) throw new Error('nats producer not open');
    return this.nc;
  }
}
