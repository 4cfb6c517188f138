/**
 * The Engine hides storage and cross-node transport (DESIGN.md §3).
 *
 * Division of labour: a node always delivers to its own connections directly
 * (the fast path); the engine stores reliable messages and carries events to
 * the *other* nodes that have interest, never echoing to the sender. The
 * memory engine therefore stores but never transports.
 */

import type { Platform } from '@herald/protocol';
import type { RoomHistoryStore } from './roomHistoryTypes.js';
import type { ConnectReadsQuery, ConnectReads, ConnectStart } from './connectTypes.js';

/** Where an ephemeral frame goes (`platform`: only sessions of that platform). Tenants are part of every route: nothing crosses them. */
export type Route =
  | { kind: 'user'; tenant: string; user: string; device?: string; platform?: Platform }
  | { kind: 'room'; tenant: string; room: string; platform?: Platform }
  | { kind: 'tenant'; tenant: string; platform?: Platform }
  | { kind: 'all'; platform?: Platform };

/** A reliable message as held in a user's inbox. */
export interface InboxMessage {
  seq: number;
  id: string;
  /** Publish time, ms since the epoch. */
  ts: number;
  /** Device-targeted: only this device of the user receives it. */
  device?: string;
  /** Platform-targeted: only the user's devices of this platform receive it. */
  platform?: string;
  /** `data` is the JSON string of the bytes' base64 (a binary payload). */
  binary?: boolean;
  event?: string;
  /** The JSON text of `data`, serialized once at publish time. */
  data: string;
  /** Per-message expiry (from `ttl`), ms since the epoch. */
  expiresAt?: number;
}

export type NewInboxMessage = Omit<InboxMessage, 'seq'>;

/**
 * Makes an append happen at most once per user and key: the store records the key with the
 * message in the same atomic step, and a second append with it stores nothing and returns the
 * first one. This is what makes a redelivered ingest entry or a retried publish store nothing
 * new even when the node that stored it died before it could record the publish's result.
 */
export interface AppendOnce {
  /** The publish's idempotency key (scoped to the user by the store). */
  key: string;
  /** How long the record is kept, ms (the idempotency TTL). */
  ttlMs: number;
}

/** What an append returns: the stored message, `duplicate` when an earlier append with the same key stored it. */
export type StoredMessage = InboxMessage & { duplicate?: true };

export interface Retention {
  maxMessages: number;
  maxAgeMs: number;
}

export interface InboxRange {
  /** Messages with seq > after, in order, expired ones left out. */
  messages: InboxMessage[];
  /** Highest seq ever assigned for this user (0 when none). */
  tip: number;
  /**
   * Highest seq that retention (count or age) has dropped. A reader whose start
   * point is below it has lost messages: resume is not "recovered".
   */
  floor: number;
}

/** Events carried between nodes. */
export type BusEvent =
  /** An ephemeral frame (already encoded JSON text) for a route. */
  | { kind: 'deliver'; route: Route; frame: string }
  /** A reliable message appended to a user's inbox. */
  | { kind: 'inbox'; tenant: string; user: string; message: InboxMessage }
  /** Close the user's (or one device's) connections: API disconnect. */
  | { kind: 'disconnect'; tenant: string; user: string; device?: string; code: number; reason: string }
  /**
   * A user+device connected as `conn` at `at` (ms since the epoch): every other connection of it
   * that is not newer closes 4004. A late event (Redis slow, the publishing node lagging) must not
   * close the successor of a connection already gone. Without `at` (older nodes): every other closes.
   */
  | { kind: 'replace'; tenant: string; user: string; device: string; conn: string; at?: number }
  /**
   * A member's awareness state (JSON text; null: cleared) for the room's members on other nodes.
   * `origin`: the incarnation of the node holding the member (`NodeLiveness.self`), so that the
   * receivers can clear it themselves if that incarnation dies (rooms/relayedStates.ts).
   */
  | { kind: 'state'; tenant: string; room: string; user: string; device: string; data: string | null; origin: string };

/** A device online somewhere in the cluster. */
export interface DevicePresence {
  tenant: string;
  user: string;
  device: string;
  platform: string;
  node: string;
  conn: string;
  /** Connected since, ms since the epoch. */
  since: number;
}

/** A connection of a node that died without closing it. */
/**
 * A webhook event ready to be stored (webhooks/redisOutbox.ts): its outbox stream, the stream's
 * approximate length cap, and the entry's fields.
 */
export interface EventWrite {
  key: string;
  maxLen: number;
  fields: string[];
}

/**
 * Builds the presence-derived webhook events (webhooks/presenceEvents.ts) for an engine that stores
 * them in the same atomic step as the presence change that decides them. undefined: not sent.
 */
export interface PresenceEventSink {
  online(d: DevicePresence): EventWrite | undefined;
  offline(d: DevicePresence, reason: 'disconnected' | 'node_lost'): EventWrite | undefined;
}

export interface LostConnection extends DevicePresence {
  /** True when no other connection of the user is left in the cluster. */
  last: boolean;
}

export interface RoomMember {
  user: string;
  device: string;
  node: string;
  /** The member's awareness state in the room (JSON text), when set. */
  state?: string;
}

/**
 * What the engine may ask of the local node: its own view of connections, so
 * that a single-process engine needs no copy of the registry.
 */
export interface LocalView {
  userDevices(tenant: string, user: string): DevicePresence[];
  roomMembers(tenant: string, room: string): RoomMember[];
  count(route: Route): number;
}

/** One user's inbox as an operator sees it (the admin user lookup). */
export interface InboxInspection {
  /** Messages held now (per-message expired ones left out). */
  depth: number;
  /** Highest seq assigned (0 when none). */
  tip: number;
  /** Highest seq dropped by retention. */
  floor: number;
  /** Per asked device: its cursor (highest acked seq; null when it never acked) and the held messages for it above that. */
  devices: { device: string; cursor: number | null; unacked: number }[];
  /** True when the walk stopped at `maxMessages` (newest first): depth and unacked are then lower bounds. */
  truncated: boolean;
}

/** Cross-node transport: events to the other nodes that have interest, never echoed to the sender. */
export interface Bus {
  /**
   * Registers a callback run after the transport lost and regained its
   * subscriptions (events published meanwhile were missed): the node then
   * re-reads inboxes. Optional: engines without a transport never call it.
   */
  onResync?(listener: () => void): void;
  /** Connects; `onEvent` receives events published by other nodes. */
  start(onEvent: (event: BusEvent) => void, local: LocalView): Promise<void>;
  /** Disconnects; pending writes are flushed first. */
  close(): Promise<void>;
  /** True while the backing store is reachable (drives /readyz). */
  isReady(): boolean;
  /** Sends an event to the other nodes interested in it. Resolves when handed to the transport. */
  publish(event: BusEvent): Promise<void>;
  /**
   * Local interest in a channel started (first local connection of a user/room/tenant).
   * May return a promise that resolves once the transport confirmed the subscription.
   */
  subscribe(route: Route): void | Promise<void>;
  /** Local interest ended. */
  unsubscribe(route: Route): void;
}

/** The reliable inbox: per-user messages with seqs, and per-device cursors. */
export interface InboxStore {
  /**
   * Appends to the user's inbox with the next seq and trims by retention, then
   * (atomically, where the engine transports) publishes an `inbox` event to
   * the other nodes. Resolves with the stored message once durable per engine.
   */
  append(tenant: string, user: string, message: NewInboxMessage, retention: Retention, once?: AppendOnce): Promise<StoredMessage>;
  /** Messages after `after`, at most `limit`, plus the inbox tip and floor. */
  readAfter(tenant: string, user: string, after: number, limit: number, retention: Retention): Promise<InboxRange>;
  /** A device's stored cursor (highest acked seq), if any. */
  getCursor(tenant: string, user: string, device: string): Promise<number | undefined>;
  /** Stores a cursor; never moves it backwards. */
  setCursor(tenant: string, user: string, device: string, seq: number): Promise<void>;
  /**
   * The user's known devices: how many have a stored cursor, and the highest
   * of them (0 when none) — where a new device's start point comes from
   * (delivery/startPoint.ts).
   */
  deviceCursors(tenant: string, user: string): Promise<{ count: number; max: number }>;
  /** Seq of the oldest retained, unexpired message targeted at `device` with after < seq ≤ upTo. */
  firstForDevice(tenant: string, user: string, device: string, after: number, upTo: number): Promise<number | undefined>;
}

/**
 * Which node incarnations are alive (engines spanning nodes): a node watches the incarnations it
 * relayed something from, and hears once when one of them dies — each node for itself, within
 * the liveness bound, with no message from the dead node or the node that reaps it.
 */
export interface NodeLiveness {
  /** This node's incarnation (node id and boot id): what other nodes' `watch` takes. */
  readonly self: string;
  /** The node's current incarnation; undefined when it is not alive. */
  incarnationOf(node: string): Promise<string | undefined>;
  /** Checks `incarnation` from now on (every heartbeat) until it is found dead or unwatched. */
  watch(incarnation: string): void;
  unwatch(incarnation: string): void;
  /** Told each watched incarnation once when it is found dead; it is then no longer watched. */
  onGone(listener: (incarnation: string) => void): void;
}

/** Idempotent publish: the first result of a key, remembered for a while. */
export interface IdempotencyStore {
  /**
   * Claims a key: 'new' when this caller owns it, else the stored result ('pending' while the owner works).
   * The claim is a lease of `leaseMs`: an owner that dies stops renewing and the key frees itself soon.
   */
  idempotencyClaim(key: string, leaseMs: number): Promise<{ state: 'new' } | { state: 'pending' } | { state: 'done'; result: string }>;
  /** Extends a pending claim's lease (no-op once done or gone). */
  idempotencyRenew(key: string, leaseMs: number): Promise<void>;
  idempotencyComplete(key: string, result: string, ttlMs: number): Promise<void>;
  idempotencyRelease(key: string): Promise<void>;
}

/** Who is online where: devices of users and members of rooms, across nodes. */
export interface PresenceStore {
  /**
   * Records a connection; resolves true when it is now the user's only connection in the whole
   * cluster (decided atomically by the engine: exactly one of two racing first devices is first).
   * `announce` (default true): false when the change is not reported (a device replacing its own session).
   * `publish`: an event published to the other nodes with the record, as `publish()` would, in the same
   * step (an engine across a network sends both in one command: issue 20).
   */
  presenceAdd(device: DevicePresence, announce?: boolean, publish?: BusEvent): Promise<boolean>;
  /**
   * Removes a connection; resolves true when it was the user's last one in the cluster (once, even if called twice).
   * `announce` (default true): false when the change is not reported (a device replacing its own session):
   * an engine that writes presence events (`writePresenceEvents`) then writes none.
   */
  presenceRemove(device: DevicePresence, announce?: boolean): Promise<boolean>;
  /**
   * Asks the engine to store `online`/`offline` (built by `sink`) atomically with the presence change
   * that decides them — the change and its event commit together or not at all. True when it does
   * (Redis, not Cluster: the outbox stream is in another slot than the user's keys); false or absent:
   * the caller stores them itself.
   */
  writePresenceEvents?(sink: PresenceEventSink): boolean;
  /**
   * Stores an event on the connection the presence scripts use: a node's events then reach the
   * store in the order the node made them, presence events included.
   */
  appendEvent?(w: EventWrite): Promise<void>;
  /**
   * Connections of nodes found dead (crashed, not shut down), reported once for the cluster by the
   * node that claimed the dead incarnation, with `last` set when it was the user's last connection.
   * Optional: a single-process engine has no other nodes to lose.
   */
  onNodeLost?(listener: (lost: LostConnection[]) => void): void;
  roomJoin(tenant: string, room: string, member: RoomMember): Promise<void>;
  roomLeave(tenant: string, room: string, member: RoomMember): Promise<void>;
  userPresence(tenant: string, user: string): Promise<DevicePresence[]>;
  roomPresence(tenant: string, room: string): Promise<RoomMember[]>;
  /** Sets (JSON text) or clears (undefined) a member's awareness state, where the engine stores members. */
  roomState(tenant: string, room: string, member: RoomMember, state: string | undefined): Promise<void>;
  /** Connections the route reaches across the cluster. */
  onlineCount(route: Route): Promise<number>;
}

/** What a connect reads and writes in one round trip (engine/connectTypes.ts). */
export type { ConnectReadsQuery, ConnectReads, ConnectStart } from './connectTypes.js';

/** Room history (engine/roomHistoryTypes.ts). */
export type { RoomHistoryPolicy, RoomHistoryMessage, RoomPosition, RoomHistoryRange, RoomHistoryStore } from './roomHistoryTypes.js';

/** Token buckets shared by every node (limits that hold for the cluster, not per node). */
export interface SharedBuckets {
  /** Resolves 0 when `cost` tokens were taken, else the ms until they could be. */
  takeTokens(key: string, ratePerSec: number, burst: number, cost: number): Promise<number>;
}

/**
 * What an engine may report for metrics, all optional. Returned by an optional
 * `engine.introspection.stats()` (sync or async; it is called once per scrape with a 1 s
 * budget, so it should read cached values or issue one pipelined round trip).
 */
export interface EngineStats {
  /** Age of the oldest ingest entry not yet acked by this node's consumer group, seconds (0 when none). */
  ingestLagSeconds?: number;
  /** Entries delivered to the ingest consumer group but not yet acked (XPENDING count). */
  ingestPending?: number;
  /** Entries in the ingest stream not yet read by the group (XINFO GROUPS `lag`). */
  ingestBacklog?: number;
  /** Ingest entries moved to the dead-letter stream, cumulative. */
  ingestDeadLettered?: number;
  /** The most recent Redis round-trip time (e.g. a PING every few seconds), seconds. */
  redisRttSeconds?: number;
  /** Cumulative engine errors by operation, e.g. { append: 2, publish: 1, connection: 3 }. */
  errors?: Record<string, number>;
  /** Reliable messages held in inboxes, when the engine can tell cheaply. */
  inboxMessages?: number;
  /** Messages dropped from inboxes because their ttl or the retention age ran out, cumulative. */
  expired?: number;
}

/** One row of the admin per-node table; the Redis engine reports every live node. */
export interface NodeSummary {
  node: string;
  connections: number;
  rooms: number;
  users: number;
  /** ms since the epoch of the node's last report. */
  updatedAt: number;
}

/** What an engine can tell about itself; every part optional. */
export interface EngineIntrospection {
  /** Messages held in inboxes on this node (the memory engine). */
  inboxDepth?(): number;
  /** Every live node's summary (engines spanning nodes). */
  nodes?(): Promise<NodeSummary[]>;
  /** Counters such as round-trip time, errors, ingest lag. */
  stats?(): EngineStats | Promise<EngineStats>;
  /**
   * Optional introspection for operators: the user's inbox depth and, for
   * each device asked, its cursor and unacked count (messages held above the
   * cursor, addressed to the user or to that device). Reads only, and at most
   * `maxMessages` messages, newest first.
   */
  inspectInbox?(tenant: string, user: string, devices: string[], maxMessages: number): Promise<InboxInspection>;
}

/**
 * An engine is the sum of the capabilities every node needs, plus optional
 * ones callers test for by property (`engine.buckets`, `engine.introspection`),
 * never with `instanceof` or casts.
 */
export interface Engine extends Bus, InboxStore, IdempotencyStore, PresenceStore {
  readonly kind: 'memory' | 'redis';
  /** Shared token buckets; absent: limits stay per node. */
  readonly buckets?: SharedBuckets;
  readonly introspection?: EngineIntrospection;
  /** Room history and recovery (both engines). */
  readonly roomHistory: RoomHistoryStore;
  /** Node incarnations and their death; absent: one process, no other node to lose. */
  readonly liveness?: NodeLiveness;
  /**
   * Optional (engines across a network): every read a connect needs, in one round trip. Callers
   * without it read through InboxStore and userPresence one by one, with the same answers.
   */
  connectReads?(q: ConnectReadsQuery): Promise<ConnectReads>;
  /**
   * Optional (engines across a network): an admitted connect's writes and its first replay read in
   * one round trip (engine/connectTypes.ts). Callers without it call presenceAdd, setCursor and
   * `stream.begin()` themselves, with the same effects.
   */
  connectStart?(q: ConnectStart, stream: { begin(): void }): Promise<boolean>;
}

