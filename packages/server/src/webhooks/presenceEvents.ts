/**
 * `online`/`offline` for an engine that stores them atomically with the presence change that
 * decides them (engine/types.ts PresenceEventSink; Redis: the presence scripts XADD them into the
 * outbox stream, issue 23). Built exactly as listener.ts builds them — same fields, same ids
 * (`offline` of a crashed node's user derived from the connection) — so a receiver cannot tell
 * which path wrote an event. The listener still sees these facts (metrics, other listeners) but no
 * longer writes them (webhooks.ts).
 */
import type { DevicePresence, EventWrite, PresenceEventSink } from '../engine/types.js';
import { connEvent, factId, partitionOf, serialize, type EventIds, type EventType, type WebhookEvent } from './event.js';
import { NODE_LOST_REASON } from './listener.js';
import { outboxFields } from './outbox.js';

export interface PresenceEventOptions {
  node: string;
  ids: EventIds;
  /** Types sent; empty: all. */
  types: ReadonlySet<EventType>;
  partitions: number;
  /** The outbox stream of a partition. */
  stream: (partition: number) => string;
  maxLen: number;
}

export function presenceEventSink(o: PresenceEventOptions): PresenceEventSink {
  const wants = (t: EventType): boolean => o.types.size === 0 || o.types.has(t);
  const write = (e: WebhookEvent): EventWrite => ({
    key: o.stream(partitionOf(e.tenant, e.user, o.partitions)),
    maxLen: o.maxLen,
    fields: outboxFields({ type: e.type, ts: e.ts, json: serialize(e) }),
  });
  const facts = (d: DevicePresence) => ({ tenant: d.tenant, user: d.user, device: d.device, platform: d.platform, conn: d.conn });
  return {
    online: (d) => (wants('online') ? write(connEvent(o.node, 'online', o.ids.next(), facts(d))) : undefined),
    offline: (d, reason) => {
      if (!wants('offline')) return undefined;
      const lost = reason === 'node_lost';
      // A crashed node's connection may be reaped twice (reaper died mid-way): same fact, same id.
      const e = connEvent(o.node, 'offline', lost ? factId('offline', d.conn) : o.ids.next(), facts(d));
      return write({ ...e, reason: lost ? NODE_LOST_REASON : reason });
    },
  };
}
