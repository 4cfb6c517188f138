/**
 * The Engine hides storage and cross-node transport (DESIGN.md §3).
 *
 * Division of labour: a node always delivers to its own connections directly
 * (the fast path); the engine stores reliable messages and carries events to
 * the *other* nodes that have interest, never echoing to the sender. The
 * memory engine therefore stores but never transports.
 */

/** Where an ephemeral frame goes. Tenants are part of every route: nothing crosses them. */
export type Route =
  | { kind: 'user'; tenant: string; user: string; device?: string }
  | { kind: 'room'; tenant: string; room: string }
  | { kind: 'tenant'; tenant: string }
  | { kind: 'all' };

/** A reliable message as held in a user's inbox. */
export interface InboxMessage {
  seq: number;
  id: string;
  /** Publish time, ms since the epoch. */
  ts: number;
  /** Device-targeted: only this device of the user receives it. */
  device?: string;
  event?: string;
  /** The JSON text of `data`, serialized once at publish time. */
  data: string;
  /** Per-message expiry (from `ttl`), ms since the epoch. */
  expiresAt?: number;
}

export type NewInboxMessage = Omit<InboxMessage, 'seq'>;

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
  /** A user+device connected as `conn`: every other connection of it closes 4004. */
  | { kind: 'replace'; tenant: string; user: string; device: string; conn: string };

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

export interface RoomMember {
  user: string;
  device: string;
  node: string;
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

export interface Engine {
  readonly kind: 'memory' | 'redis';

  /**
   * Optional introspection for operators: the user's inbox depth and, for
   * each device asked, its cursor and unacked count (messages held above the
   * cursor, addressed to the user or to that device). Reads only, and at most
   * `maxMessages` messages, newest first.
   */
  inspectInbox?(tenant: string, user: string, devices: string[], maxMessages: number): Promise<InboxInspection>;

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

  // ---- transport to other nodes ----
  /** Sends an event to the other nodes interested in it. Resolves when handed to the transport. */
  publish(event: BusEvent): Promise<void>;
  /**
   * Local interest in a channel started (first local connection of a user/room/tenant).
   * May return a promise that resolves once the transport confirmed the subscription.
   */
  subscribe(route: Route): void | Promise<void>;
  /** Local interest ended. */
  unsubscribe(route: Route): void;

  // ---- reliable inbox ----
  /**
   * Appends to the user's inbox with the next seq and trims by retention, then
   * (atomically, where the engine transports) publishes an `inbox` event to
   * the other nodes. Resolves with the stored message once durable per engine.
   */
  append(tenant: string, user: string, message: NewInboxMessage, retention: Retention): Promise<InboxMessage>;
  /** Messages after `after`, at most `limit`, plus the inbox tip and floor. */
  readAfter(tenant: string, user: string, after: number, limit: number, retention: Retention): Promise<InboxRange>;
  /** A device's stored cursor (highest acked seq), if any. */
  getCursor(tenant: string, user: string, device: string): Promise<number | undefined>;
  /** Stores a cursor; never moves it backwards. */
  setCursor(tenant: string, user: string, device: string, seq: number): Promise<void>;

  // ---- idempotent publish ----
  /** Claims a key: 'new' when this caller owns it, else the stored result ('pending' while the owner works). */
  idempotencyClaim(key: string, ttlMs: number): Promise<{ state: 'new' } | { state: 'pending' } | { state: 'done'; result: string }>;
  idempotencyComplete(key: string, result: string, ttlMs: number): Promise<void>;
  idempotencyRelease(key: string): Promise<void>;

  // ---- shared limits ----
  /**
   * Optional: a token bucket shared by every node. Resolves 0 when `cost`
   * tokens were taken, else the ms until they could be. Engines without it
   * leave limits per node.
   */
  takeTokens?(key: string, ratePerSec: number, burst: number, cost: number): Promise<number>;

  // ---- presence across nodes ----
  presenceAdd(device: DevicePresence): Promise<void>;
  presenceRemove(device: DevicePresence): Promise<void>;
  roomJoin(tenant: string, room: string, member: RoomMember): Promise<void>;
  roomLeave(tenant: string, room: string, member: RoomMember): Promise<void>;
  userPresence(tenant: string, user: string): Promise<DevicePresence[]>;
  roomPresence(tenant: string, room: string): Promise<RoomMember[]>;
  /** Connections the route reaches across the cluster. */
  onlineCount(route: Route): Promise<number>;
}
