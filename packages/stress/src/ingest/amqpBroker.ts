/**
 * RabbitMQ for the ingest scenario (docs/ingest.md#rabbitmq): a durable queue
 * unique to the run, declared by the nodes; the producer publishes with
 * publisher confirms and a `message_id` (the entry id) on every message, as
 * the docs tell producers to; dead letters are read from `<queue>.dead` with
 * their `x-herald-reason` header.
 */
import { connect, type ChannelModel, type ConfirmChannel } from 'amqplib';
import { withTimeout } from '../wait.js';
import { bestEffort, type Broker, type Outgoing } from './broker.js';
import type { DeadLetterRecord } from './entries.js';

const URL = process.env.HERALD_STRESS_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
/** Bodies over this go to the dead letter (the scenario sends one such poison entry). */
export const AMQP_MAX_BYTES = 131_072;

export class AmqpBroker implements Broker {
  readonly kind = 'amqp';
  readonly upstream: { host: string; port: number };
  readonly queue: string;
  private conn: ChannelModel | undefined;
  private ch: ConfirmChannel | undefined;

  constructor(tag: string) {
    this.queue = `herald.stress.${tag}`;
    const u = new globalThis.URL(URL);
    this.upstream = { host: u.hostname, port: Number(u.port || 5672) };
  }

  get deadQueue(): string {
    return `${this.queue}.dead`;
  }

  nodeEnv(proxyPort: number): Record<string, string> {
    const u = new globalThis.URL(URL);
    u.host = `127.0.0.1:${proxyPort}`;
    u.searchParams.set('heartbeat', '2'); // a stalled connection is noticed within seconds
    return {
      HERALD_INGEST_AMQP_URL: u.toString(),
      HERALD_INGEST_AMQP_QUEUE: this.queue,
      HERALD_INGEST_AMQP_PREFETCH: '16',
      HERALD_INGEST_AMQP_MAX_BYTES: String(AMQP_MAX_BYTES),
      HERALD_INGEST_AMQP_RETRY_DELAY_MS: '300',
      HERALD_INGEST_AMQP_TIMEOUT_MS: '3000',
      HERALD_INGEST_AMQP_RECONNECT_MAX_MS: '2000',
    };
  }

  async open(): Promise<void> {
    this.conn = await connect(URL, { timeout: 5000 });
    this.conn.on('error', () => {});
    this.ch = await this.conn.createConfirmChannel();
    this.ch.on('error', () => {});
  }

  async produce(batch: readonly Outgoing[]): Promise<void> {
    const ch = this.ch;
    if (!ch) throw new Error('amqp producer not open');
    // Bounded: a message never confirmed stays unconfirmed (ambiguous for the check).
    const all = Promise.all(
      batch.map(
        ({ entry, bytes }) =>
          new Promise<void>((resolve) => {
            entry.sends++;
            entry.ref = entry.id;
            ch.sendToQueue(this.queue, bytes, { persistent: true, messageId: entry.id, contentType: 'application/json' }, (err: unknown) => {
              if (!err) entry.confirmed = true;
              resolve();
            });
          }),
      ),
    );
    await withTimeout('amqp publisher confirms', all, 10_000);
  }

  async backlog(): Promise<number> {
    return (await this.check(this.queue)).messageCount;
  }

  async deadCount(): Promise<number> {
    return (await this.check(this.deadQueue)).messageCount;
  }

  async deadLetters(): Promise<DeadLetterRecord[]> {
    const conn = this.need();
    const ch = await conn.createChannel();
    const out: DeadLetterRecord[] = [];
    try {
      const get = (): ReturnType<typeof ch.get> => withTimeout('amqp basic.get', ch.get(this.deadQueue, { noAck: true }), 5000);
      for (let m = await get(); m !== false; m = await get()) {
        const headers = m.properties.headers as Record<string, unknown> | undefined;
        const node = headers?.['x-herald-node'];
        out.push({ source: 'amqp', ref: String(m.properties.messageId), reason: reasonText(headers?.['x-herald-reason']), ...(typeof node === 'string' ? { node } : {}) });
      }
    } finally {
      await ch.close().catch(() => {});
    }
    return out;
  }

  async cleanup(): Promise<void> {
    const conn = this.conn;
    if (!conn) return;
    await bestEffort(
      async () => {
        const ch = await conn.createChannel();
        ch.on('error', () => {});
        await ch.deleteQueue(this.queue);
        await ch.deleteQueue(this.deadQueue);
        await ch.close();
      },
      () => conn.close(),
    );
    this.conn = undefined;
  }

  private need(): ChannelModel {
    if (!this.conn) throw new Error('amqp producer not open');
    return this.conn;
  }

  /** Passive declare on a channel of its own (a missing queue closes the channel it is asked on). */
  private async check(queue: string): Promise<{ messageCount: number }> {
    const ch = await withTimeout('amqp channel.open', this.need().createChannel(), 5000);
    ch.on('error', () => {});
    try {
      return await withTimeout(`amqp queue.declare ${queue} (passive)`, ch.checkQueue(queue), 5000);
    } finally {
      await ch.close().catch(() => {});
    }
  }
}

function reasonText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  return String(v);
}
