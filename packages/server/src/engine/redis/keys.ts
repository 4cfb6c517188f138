/**
 * Every Redis key and channel name the engine uses, in one place (the layout
 * is documented in docs/scaling.md; keep the two in step).
 *
 * Names embed tenant, user and room ids. Those are free text, so the four
 * characters that carry structure in a key — `%` (our escape), `:` (our
 * separator) and `{` `}` (Redis Cluster hash-tag delimiters) — are
 * percent-encoded. Without that, a user id such as `a}b` would end the hash
 * tag early and scatter one user's keys over several Cluster slots, which
 * would make the append script fail with CROSSSLOT.
 *
 * All keys of one user share the hash tag `{tenant:user}`, all keys of one
 * room `{tenant:room}`: the scripts touch several of them atomically, which on
 * Cluster requires one slot. The literal segment before or after the tag keeps
 * user and room names apart even when the tag text is equal.
 */
import type { BusEvent, Route } from '../types.js';

const NEEDS_ESCAPE = /[%:{}]/;

/** Percent-encodes the structural characters; a no-op (and no allocation) for ordinary ids. */
export function esc(s: string): string {
  if (!NEEDS_ESCAPE.test(s)) return s;
  return s.replace(/[%:{}]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

export class RedisKeys {
  constructor(readonly prefix: string) {
    // A brace in the prefix would become the hash tag of every key (all data in one slot) or break ours.
    if (/[{}]/.test(prefix)) throw new Error(`redis key prefix must not contain '{' or '}': ${JSON.stringify(prefix)}`);
  }

  /** `{tenant:user}`: the hash tag shared by every key of one user. */
  userTag(tenant: string, user: string): string {
    return '{' + esc(tenant) + ':' + esc(user) + '}';
  }

  /** Hash: `tip` (last seq), `floor` (highest seq dropped by retention), `ts` (newest message ts). Never expires. */
  userMeta(tenant: string, user: string): string {
    return this.prefix + 'u' + this.userTag(tenant, user) + ':meta';
  }

  /** Stream of reliable messages, entry id `<seq>-0`. */
  userInbox(tenant: string, user: string): string {
    return this.prefix + 'u' + this.userTag(tenant, user) + ':inbox';
  }

  /** Hash: device → highest acked seq. */
  userCursors(tenant: string, user: string): string {
    return this.prefix + 'u' + this.userTag(tenant, user) + ':cursors';
  }

  /** Hash: device → presence record (JSON) of the device's connection. */
  userPresence(tenant: string, user: string): string {
    return this.prefix + 'u' + this.userTag(tenant, user) + ':presence';
  }

  /** Pub/sub channel for events of one user (same slot as the inbox, so the append script may SPUBLISH it). */
  userChannel(tenant: string, user: string): string {
    return this.prefix + 'u' + this.userTag(tenant, user) + ':ch';
  }

  /** Hash: `user:device` → member record (JSON). */
  roomMembers(tenant: string, room: string): string {
    return this.prefix + 'r{' + esc(tenant) + ':' + esc(room) + '}:members';
  }

  /** Hash: `epoch`, `top` (newest offset), `ms` (newest entry time) of a room's history. Expires with it. */
  roomHistoryMeta(tenant: string, room: string): string {
    return this.prefix + 'r{' + esc(tenant) + ':' + esc(room) + '}:hmeta';
  }

  /** Stream of a room's history, entry id `<ms>-<offset>`, field `f` = the frame text. */
  roomHistory(tenant: string, room: string): string {
    return this.prefix + 'r{' + esc(tenant) + ':' + esc(room) + '}:history';
  }

  roomChannel(tenant: string, room: string): string {
    return this.prefix + 'r{' + esc(tenant) + ':' + esc(room) + '}:ch';
  }

  tenantChannel(tenant: string): string {
    return this.prefix + 't{' + esc(tenant) + '}:ch';
  }

  allChannel(): string {
    return this.prefix + 'all:ch';
  }

  /** Hash: node id → `count|expiresAtMs` of the node's connections in a tenant. */
  tenantCounts(tenant: string): string {
    return this.prefix + 't{' + esc(tenant) + '}:counts';
  }

  /** Hash: node id → `count|expiresAtMs` of all the node's connections. */
  allCounts(): string {
    return this.prefix + 'all:counts';
  }

  /** String: the boot id of the live incarnation of a node, with a short TTL refreshed by its heartbeat. */
  nodeAlive(node: string): string {
    return this.prefix + 'node:{' + esc(node) + '}';
  }

  /** Hash: conn id → `node|boot` of every connection of the user: its length decides online/offline atomically. */
  userConns(tenant: string, user: string): string {
    return this.prefix + 'u' + this.userTag(tenant, user) + ':conns';
  }

  /** Hash: conn id → device record (JSON) of every connection one node incarnation holds, for reaping it after a crash. */
  nodeConns(node: string, boot: string): string {
    return this.prefix + 'node:{' + esc(node) + '}:' + boot + ':conns';
  }

  /** Set of `boot:node` of node incarnations that hold or held connections and were not reaped yet. */
  nodeBoots(): string {
    return this.prefix + 'nodeboots';
  }

  /** String: the claim of the node that reaps a dead incarnation (once for the cluster). */
  reapClaim(node: string, boot: string): string {
    return this.prefix + 'node:{' + esc(node) + '}:' + boot + ':reap';
  }

  /** Hash: a shared token bucket (rate limits across nodes). */
  rate(key: string): string {
    return this.prefix + 'rate:{' + esc(key) + '}';
  }

  /** A once-only append record (AppendOnce) in the user's slot: the idempotency key, scoped to the user. */
  userAppendOnce(tenant: string, user: string, key: string): string {
    return this.prefix + 'once:' + this.userTag(tenant, user) + ':' + esc(key);
  }

  idempotency(key: string): string {
    return this.prefix + 'idem:{' + esc(key) + '}';
  }

  /** Field of a room member in `roomMembers`. */
  static memberField(user: string, device: string): string {
    return esc(user) + ':' + esc(device);
  }

  /** The channel of a route. */
  routeChannel(route: Route): string {
    switch (route.kind) {
      case 'user':
        // Device-targeted events travel on the user's channel: one subscription per user, not per device.
        return this.userChannel(route.tenant, route.user);
      case 'room':
        return this.roomChannel(route.tenant, route.room);
      case 'tenant':
        return this.tenantChannel(route.tenant);
      case 'all':
        return this.allChannel();
    }
  }

  /** The channel a bus event travels on. */
  eventChannel(event: BusEvent): string {
    switch (event.kind) {
      case 'deliver':
        return this.routeChannel(event.route);
      case 'state':
        return this.roomChannel(event.tenant, event.room);
      case 'inbox':
      case 'disconnect':
      case 'replace':
        return this.userChannel(event.tenant, event.user);
    }
  }
}
