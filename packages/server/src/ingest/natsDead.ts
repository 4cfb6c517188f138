/**
 * Dead letters of the NATS JetStream ingest (docs/ingest.md): an entry that
 * can never succeed is published to `<subject>.dead` — body unchanged, the
 * reason and where it came from in headers, deduplicated by its stream
 * sequence — before the source terminates it.
 *
 * Also the one case the source never sees: an entry whose last allowed
 * delivery was never acked (the node holding it died, or stalled past
 * ack_wait) is not delivered again, JetStream only announces it with a
 * max-deliveries advisory. One node (a queue group) reads it from the stream,
 * dead-letters it and removes it, so it neither sits in the stream for ever
 * nor vanishes silently.
 */
import { headers as natsHeaders, type JetStreamClient, type JetStreamManager, type NatsConnection, type Subscription } from 'nats';
import { apiErrCode } from './natsTopology.js';

/** Header of a dead letter carrying why it was refused. */
export const DEAD_REASON_HEADER = 'Herald-Dead-Reason';

const MESSAGE_NOT_FOUND = 10037;

export interface NatsDeadOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  stream: string;
  durable: string;
  deadSubject: string;
  maxDeliver: number;
  timeoutMs: number;
  nodeId: string;
  /** An entry was dead-lettered from an advisory (counted and logged by the source). */
  onAdvisoryDead: (seq: number, reason: string) => void;
  /** A failure worth showing as the source's last error. */
  onError: (message: string) => void;
}

export class NatsDeadLetters {
  private advisories: Subscription | undefined;

  constructor(private readonly o: NatsDeadOptions) {}

  /** Stores `data` in the dead stream (deduplicated by `seq`); rejects when it was not stored. */
  async publish(data: Uint8Array, reason: string, seq: number, subject: string, deliveries: number): Promise<void> {
    await this.o.js.publish(this.o.deadSubject, data, {
      headers: this.headers(reason, seq, subject, deliveries),
      msgID: `dead:${this.o.stream}:${seq}`,
      timeout: this.o.timeoutMs,
    });
  }

  /** Subscribes to the consumer's max-deliveries advisories until `unwatch()`. */
  watchMaxDeliveries(nc: NatsConnection, stopping: () => boolean): void {
    const subject = `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${this.o.stream}.${this.o.durable}`;
    this.advisories = nc.subscribe(subject, {
      queue: `herald-ingest-${this.o.stream}`,
      callback: (err, msg) => {
        if (err || stopping()) return;
        let a: { stream_seq?: unknown; deliveries?: unknown };
        try {
          a = msg.json();
        } catch {
          return;
        }
        if (typeof a.stream_seq === 'number') void this.deadFromAdvisory(a.stream_seq, Number(a.deliveries) || this.o.maxDeliver);
      },
    });
  }

  unwatch(): void {
    this.advisories?.unsubscribe();
  }

  private async deadFromAdvisory(seq: number, deliveries: number): Promise<void> {
    try {
      const m = await this.o.jsm.streams.getMessage(this.o.stream, { seq });
      const reason = `delivered ${deliveries} times (max ${this.o.maxDeliver}) without being acknowledged`;
      await this.publish(m.data, reason, seq, m.subject, deliveries);
      await this.o.jsm.streams.deleteMessage(this.o.stream, seq, false);
      this.o.onAdvisoryDead(seq, reason);
    } catch (err) {
      // Gone already (acked or dead-lettered by its handler) or NATS unreachable: the stream keeps it (lag shows it).
      if (apiErrCode(err) !== MESSAGE_NOT_FOUND) this.o.onError((err as Error).message);
    }
  }

  private headers(reason: string, seq: number, subject: string, deliveries: number): ReturnType<typeof natsHeaders> {
    const h = natsHeaders();
    h.set(DEAD_REASON_HEADER, headerValue(reason));
    h.set('Herald-Stream', this.o.stream);
    h.set('Herald-Stream-Seq', String(seq));
    h.set('Herald-Subject', subject);
    h.set('Herald-Deliveries', String(deliveries));
    h.set('Herald-Node', this.o.nodeId);
    return h;
  }
}

/** Header values are one line: no CR/LF, bounded length. */
function headerValue(s: string): string {
  return s.replace(/[\r\n]+/g, ' ').slice(0, 1_000);
}
