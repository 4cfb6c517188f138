/**
 * The webhook event model (DESIGN.md §7, FIXED field names): one JSON object
 * per fact, with a stable `id` the receiver dedupes on.
 *
 * Ids are assigned once, when the event is made, and travel with it through
 * the outbox and every retry. Facts decided on one node get `<node>.<boot>.<n>`
 * (unique without coordination); facts that several nodes might decide — a
 * crashed node's connections reaped again after a reaper died, an unacked
 * deadline — get an id derived from the fact itself, so a repeat carries the
 * same id.
 */
import { createHash, randomBytes } from 'node:crypto';

export const EVENT_TYPES = ['connect', 'disconnect', 'online', 'offline', 'join', 'leave', 'publish', 'acked', 'unacked'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export interface WebhookEvent {
  id: string;
  type: EventType;
  /** When the fact happened, ms since the epoch. */
  ts: number;
  /** The node that emitted it. */
  node: string;
  tenant: string;
  user: string;
  device?: string;
  platform?: string;
  conn?: string;
  code?: number;
  reason?: string;
  room?: string;
  seq?: number;
  message_id?: string;
  /** `publish` only: the JSON text of `data`, spliced in as a JSON value by `serialize`. */
  data?: string;
}

/** What a connection-scoped event says about the connection. */
export interface ConnFacts {
  tenant: string;
  user: string;
  device: string;
  platform: string;
  conn: string;
}

/** A connection-scoped event with its common fields, as every emitter builds it (field order included). */
export function connEvent(node: string, type: EventType, id: string, c: ConnFacts): WebhookEvent {
  return { id, type, ts: Date.now(), node, tenant: c.tenant, user: c.user, device: c.device, platform: c.platform, conn: c.conn };
}

/** Ids of one node incarnation: a random boot part and a counter. */
export class EventIds {
  private n = 0;
  private readonly prefix: string;
  constructor(node: string) {
    this.prefix = `${node}.${randomBytes(4).toString('hex')}.`;
  }
  next(): string {
    return this.prefix + (++this.n).toString(36);
  }
}

/** An id derived from the fact: the same fact decided twice gets the same id. */
export function factId(...parts: (string | number)[]): string {
  return createHash('sha256').update(parts.join('\u0000')).digest('base64url').slice(0, 22);
}

/**
 * The event's JSON text. `data` is already JSON text (validated when the client published it):
 * it is spliced in as a value, not parsed and serialized again.
 */
export function serialize(e: WebhookEvent): string {
  if (e.data === undefined) return JSON.stringify(e);
  const { data, ...rest } = e;
  const head = JSON.stringify(rest);
  return head.slice(0, -1) + ',"data":' + data + '}';
}

/** The event's partition: all events of one user go through one partition, in order. */
export function partitionOf(tenant: string, user: string, partitions: number): number {
  // FNV-1a over tenant \0 user: cheap, stable across nodes and restarts.
  let h = 0x811c9dc5;
  const s = tenant + '\u0000' + user;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % partitions;
}

/** The POST body of a batch of serialized events. */
export function batchBody(events: readonly string[]): string {
  return '{"events":[' + events.join(',') + ']}';
}
