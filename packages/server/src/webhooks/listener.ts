/**
 * Turns lifecycle facts (events/lifecycle.ts) into webhook events — the one
 * place that maps the seam to DESIGN.md §7's event fields. Each fact is
 * emitted on exactly one node already: the node holding the connection
 * (connect, disconnect, join, leave, publish, acked), the node whose
 * presence update made the user's connection set empty or non-empty (online,
 * offline; decided atomically by the engine), or the one node that claimed a
 * crashed node (its connections' disconnect and offline).
 */
import type { LifecycleListener, SessionRef } from '../events/lifecycle.js';
import { connEvent, factId, type EventIds, type EventType, type WebhookEvent } from './event.js';

/** The reason of a disconnect the cluster reports for a crashed node's connections (fixed text). */
export const NODE_LOST_REASON = 'node lost';
export const NODE_LOST_CODE = 1006;

export interface ListenerDeps {
  node: string;
  ids: EventIds;
  /** Types sent; empty: all. */
  types: ReadonlySet<EventType>;
  emit(e: WebhookEvent): void;
}

export function webhookListener(d: ListenerDeps): LifecycleListener {
  const wants = (t: EventType): boolean => d.types.size === 0 || d.types.has(t);
  const base = (type: EventType, s: SessionRef, id = d.ids.next()): WebhookEvent =>
    connEvent(d.node, type, id, { tenant: s.tenant, user: s.user, device: s.device, platform: s.platform, conn: s.id });
  const l: LifecycleListener = { wantsAckedMessages: wants('acked') };
  if (wants('connect')) l.connected = (s) => d.emit(base('connect', s));
  if (wants('disconnect')) {
    l.disconnected = (s, code, reason) => {
      // A crashed node's connection may be reaped twice (reaper died mid-way): same fact, same id.
      const lost = code === NODE_LOST_CODE && reason === NODE_LOST_REASON;
      d.emit({ ...base('disconnect', s, lost ? factId('lost', s.id) : undefined), code, reason });
    };
  }
  if (wants('online')) l.online = (_t, _u, s) => d.emit(base('online', s));
  if (wants('offline')) {
    l.offline = (tenant, user, reason, s) => {
      const lost = reason === 'node_lost';
      const e: WebhookEvent = s ? base('offline', s, lost ? factId('offline', s.id) : undefined) : { id: d.ids.next(), type: 'offline', ts: Date.now(), node: d.node, tenant, user };
      d.emit({ ...e, reason: lost ? NODE_LOST_REASON : reason });
    };
  }
  if (wants('join')) l.joined = (s, room) => d.emit({ ...base('join', s), room });
  if (wants('leave')) l.left = (s, room) => d.emit({ ...base('leave', s), room });
  if (wants('publish')) l.published = (s, room, messageId, data) => d.emit({ ...base('publish', s), room, message_id: messageId, data });
  if (wants('acked')) {
    l.acked = (s, _count, messages) => {
      if (messages === undefined) return;
      for (const m of messages) d.emit({ ...base('acked', s, factId('acked', s.tenant, s.user, s.device, m.seq, m.id)), seq: m.seq, message_id: m.id });
    };
  }
  return l;
}
