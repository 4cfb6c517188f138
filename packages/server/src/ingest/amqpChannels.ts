/**
 * RabbitMQ connection helpers for the ingest source (amqpSource.ts): every broker call bounded by a
 * timeout, queue declares that never close the consuming channel, and dropping a connection at once.
 */
import type { Channel, ChannelModel, ConfirmChannel } from 'amqplib';
import { withTimeout } from '../runtime/timeouts.js';

const DEFAULT_HEARTBEAT_SEC = 10;

/** What amqplib passes to a publish callback when the broker nacks it. */
export const NACKED = 'message nacked';

/**
 * Ends a connection at once, without AMQP's close handshake: the socket is destroyed, amqplib
 * fails every pending confirm and closes the channels, and the broker requeues what was unacked.
 */
export function dropConnection(conn: ChannelModel, why: string): void {
  const stream = (conn as unknown as { connection?: { stream?: { destroy(err?: Error): void } } }).connection?.stream;
  // With an error: amqplib closes the connection on a socket 'error'; a plain destroy emits neither 'error' nor 'end'.
  if (stream) stream.destroy(new Error(why));
  else void conn.close().catch(() => undefined);
}

/** The URL with `heartbeat=10` unless it sets one: a stalled connection is noticed within two beats. */
export function withHeartbeat(url: string): string {
  if (/[?&]heartbeat=/.test(url)) return url;
  return url + (url.includes('?') ? '&' : '?') + `heartbeat=${DEFAULT_HEARTBEAT_SEC}`;
}

/**
 * A passive declare (queue.declare passive) on a short-lived channel of its own: a missing queue
 * closes the channel it is asked on (404), which must never be the consuming one. Undefined: no such queue.
 */
export async function passiveDeclare(conn: ChannelModel, queue: string, timeoutMs: number): Promise<{ messageCount: number } | undefined> {
  const side: Channel = await withTimeout(conn.createChannel(), timeoutMs, 'channel.open');
  side.on('error', () => undefined);
  try {
    return await withTimeout(side.checkQueue(queue), timeoutMs, 'queue.declare (passive)');
  } catch (err) {
    if ((err as { code?: unknown }).code === 404) return undefined;
    throw err;
  } finally {
    await withTimeout(side.close(), timeoutMs, 'channel.close').catch(() => undefined);
  }
}

/**
 * Declares `queue` durable unless it exists: a queue the business declared itself (a quorum queue, a
 * max-length or TTL argument) is used as it is, where a declare with other arguments would fail.
 */
export async function ensureQueue(conn: ChannelModel, ch: ConfirmChannel, queue: string, timeoutMs: number): Promise<void> {
  if (await passiveDeclare(conn, queue, timeoutMs)) return;
  await withTimeout(ch.assertQueue(queue, { durable: true }), timeoutMs, 'queue.declare');
}
