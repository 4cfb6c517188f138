/**
 * The webhook outbox: events wait here, per partition and in order, until the
 * receiver answered 2xx. One implementation per engine: a bounded in-process
 * queue (memoryOutbox.ts, lost on a crash) and Redis Streams consumed as a
 * group (redisOutbox.ts, survives crashes, each event sent by one node).
 */
import type { EventType } from './event.js';

/** An event as written: its type and time (metrics, retention) and its JSON text. */
export interface OutboxEvent {
  type: EventType;
  ts: number;
  json: string;
}

/** The stream entry's fields of an event (Redis outbox; also written by the engine's presence scripts). */
export function outboxFields(e: OutboxEvent): string[] {
  return ['t', e.type, 'ts', String(e.ts), 'e', e.json];
}

/** An event as read back: `ref` names it in the outbox (the Redis entry id). */
export interface OutboxEntry extends OutboxEvent {
  ref: string;
}

export interface OutboxDepth {
  /** Events waiting (not yet delivered), across the partitions this node can see. */
  depth: number;
  /** Age of the oldest waiting event, ms (0 when none). */
  oldestAgeMs: number;
}

export interface Outbox {
  /**
   * Appends events of one partition, in order. Never throws: a full or unreachable store
   * buffers (bounded) or drops, and `onDrop` counts it.
   */
  append(partition: number, events: readonly OutboxEvent[]): void;
  /** The partitions this node sends now (memory: all; Redis: those it holds the lease of). */
  owned(): Iterable<number>;
  /**
   * Up to `max` undelivered entries of an owned partition, oldest first — entries a previous
   * owner took and never confirmed come first. Not removed until `done`.
   */
  take(partition: number, max: number): Promise<OutboxEntry[]>;
  /** The entries were delivered (or dropped past retention): remove them. */
  done(partition: number, entries: readonly OutboxEntry[]): Promise<void>;
  depth(): Promise<OutboxDepth>;
  /** Called for events that were never stored (full outbox, or the store down too long). */
  onDrop: (type: EventType, reason: 'overflow') => void;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Set by the sender: true while a partition has entries taken and not done (it must not move to another node). */
  busy: (partition: number) => boolean;
}
