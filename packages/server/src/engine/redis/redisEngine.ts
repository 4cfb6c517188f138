/**
 * The Redis engine (DESIGN.md §3, docs/scaling.md): inboxes, cursors,
 * idempotency keys and presence in Redis; events between nodes over Redis
 * pub/sub (sharded pub/sub on Cluster).
 *
 * Two connections: `cmd` for every command and `sub`, in subscriber mode, for
 * the channels the node has local interest in. Every published message is
 * `<origin node id>\n<event JSON>`: a node recognises and drops its own
 * echoes from the prefix alone, without parsing JSON.
 *
 * Failure stance: commands are never queued while Redis is away and never
 * re-sent after a lost reply (connect.ts), so append() rejects rather than
 * resolving for a message that was not stored — the API answers 5xx, the
 * ingest entry stays pending. A reply lost *after* Redis stored the message
 * is ambiguous: the caller sees an error and may retry; publishers that need
 * exactly-once across such failures send an idempotency_key.
 */
import type { Cluster, Redis } from 'ioredis';
import type { Logger } from '../../observability/logger.js';
import type {
  AppendOnce, ConnectReads, ConnectReadsQuery, ConnectStart, StoredMessage, EngineIntrospection, EngineStats, NodeSummary, SharedBuckets, BusEvent, DevicePresence, Engine,
  EventWrite, InboxInspection, InboxRange, LocalView, LostConnection, NewInboxMessage, PresenceEventSink, Retention, RoomMember, Route,
} from '../types.js';
import { closeClient, connectClient, createClient, parseRedisUrl, type ParsedRedisUrl, type RedisClient } from '../../redis/connect.js';
import { RedisKeys } from './keys.js';
import { DEFAULT_PRESENCE, RedisPresence, type PresenceOptions } from './presence.js';
import type { PayloadCodec } from '../payloadCodec.js';
import { defineScripts } from './scripts.js';
import { ChannelSubscriptions } from './subscriptions.js';
import { RedisInbox } from './redisInbox.js';
import { RedisRoomHistory } from './roomHistory.js';
import { RedisKeyStore } from './redisKeyStore.js';
import { INSPECT, parseInspection } from './inspect.js';
import { RedisLiveness } from './liveness.js';
import { readForConnect } from './connectReads.js';
import { Reannouncer } from './reannounce.js';
import { ConnectStarts } from './connectStart.js';

export interface RedisEngineOptions {
  url: string;
  keyPrefix: string;
  nodeId: string;
  logger: Logger;
  /** How long start() waits for Redis. */
  connectTimeoutMs?: number;
  /** A command without a reply for this long fails (Redis hung or a network black hole). */
  commandTimeoutMs?: number;
  presence?: Partial<PresenceOptions>;
  /** Compression of stored payloads (engine/payloadCodec.ts); default: plain. */
  payloadCodec?: PayloadCodec;
}

export class RedisEngine implements Engine {
  readonly kind = 'redis' as const;
  /** The API publish rate and connections per user hold for the cluster: one Lua token bucket per key. */
  readonly buckets: SharedBuckets;
  readonly introspection: EngineIntrospection = {
    nodes: () => this.nodes(),
    stats: () => this.stats(),
    inspectInbox: (tenant, user, devices, max) => this.inspectInbox(tenant, user, devices, max),
  };
  readonly keys: RedisKeys;
  readonly roomHistory: RedisRoomHistory;
  /** Every node learns of a dead incarnation it watches (liveness.ts). */
  readonly liveness: RedisLiveness;
  private readonly parsed: ParsedRedisUrl;
  private readonly sharded: boolean;
  private readonly cmd: RedisClient;
  private readonly sub: RedisClient;
  private readonly subs: ChannelSubscriptions;
  private readonly presence: RedisPresence;
  private readonly nodeId: string;
  private readonly echoPrefix: string;
  private readonly logger: Logger;
  private onEvent: (event: BusEvent) => void = () => {};
  private readonly inbox: RedisInbox;
  private readonly keyStore: RedisKeyStore;
  /** Failed operations by kind, for herald_engine_errors_total. */
  private readonly errors: Record<string, number> = {};
  private readonly failHandlers = new Map<string, (err: unknown) => never>();
  private lastRttSeconds: number | undefined;
  /** What a confirmed user channel re-announces (reannounce.ts). */
  private readonly reannouncer: Reannouncer;
  /** A connect's writes and first read in one script (connectStart.ts); undefined on Cluster. */
  private readonly starts: ConnectStarts | undefined;
  private started = false;
  private closed = false;

  constructor(private readonly opts: RedisEngineOptions) {
    if (opts.nodeId.includes('\n')) throw new Error('node id must not contain a newline');
    this.nodeId = opts.nodeId;
    this.echoPrefix = opts.nodeId + '\n';
    this.logger = opts.logger.child({ component: 'redis-engine' });
    this.keys = new RedisKeys(opts.keyPrefix);
    this.parsed = parseRedisUrl(opts.url);
    this.sharded = this.parsed.mode === 'cluster';
    this.cmd = createClient(this.parsed, { name: `herald:${opts.nodeId}:cmd`, logger: this.logger, commandTimeoutMs: opts.commandTimeoutMs ?? 10_000 });
    this.sub = createClient(this.parsed, { name: `herald:${opts.nodeId}:sub`, logger: this.logger, shardedSubscribers: this.sharded });
    defineScripts(this.cmd);
    const failed = (op: string) => this.failed(op);
    this.inbox = new RedisInbox({ cmd: this.cmd, keys: this.keys, sharded: this.sharded, echoPrefix: this.echoPrefix, failed, ...(opts.payloadCodec ? { codec: opts.payloadCodec } : {}) });
    this.keyStore = new RedisKeyStore(this.cmd, this.keys, failed);
    this.roomHistory = new RedisRoomHistory({ cmd: this.cmd, keys: this.keys, sharded: this.sharded, failed });
    this.buckets = this.keyStore;
    this.subs = new ChannelSubscriptions(this.sub, this.sharded, this.logger);
    const reannounceFailed = (err: unknown): void => this.logger.debug({ err: (err as Error).message }, 'inbox re-announce failed');
    this.reannouncer = new Reannouncer({ inbox: this.inbox, sharded: this.sharded, closed: () => this.closed, emit: (ev) => this.onEvent(ev), failed: reannounceFailed, errors: this.errors }, this.keys);
    this.subs.onConfirmed((channels) => this.reannouncer.confirmed(channels));
    const presence = { ...DEFAULT_PRESENCE, ...opts.presence };
    this.presence = new RedisPresence(this.cmd, this.keys, this.nodeId, presence, this.logger);
    const starts = { cmd: this.cmd as Redis, keys: this.keys, presence: this.presence, inbox: this.inbox, reannouncer: this.reannouncer, echoPrefix: this.echoPrefix, failed };
    if (this.presence.indexInScript) this.starts = new ConnectStarts(starts);
    this.liveness = new RedisLiveness(this.cmd, this.keys, { node: this.nodeId, boot: this.presence.boot }, presence.heartbeatMs, this.logger);
    // Connection errors: failed connects and lost connections (not the orderly close at shutdown).
    const connectionError = (): void => {
      if (!this.closed) this.errors.connection = (this.errors.connection ?? 0) + 1;
    };
    for (const c of [this.cmd, this.sub]) {
      c.on('error', connectionError);
      c.on('close', connectionError);
    }
    let connected = false;
    this.cmd.on('ready', () => {
      if (!connected) {
        connected = true;
        return;
      }
      // Back after an outage: Redis may have restarted without our records, or readers may have swept
      // them while our liveness key had lapsed. Prove liveness first, then write them again.
      if (this.started && !this.closed) {
        this.presence
          .heartbeat()
          .then(() => this.presence.restore())
          .catch((err: Error) => this.logger.warn({ err: err.message }, 'presence restore after reconnect failed'));
      }
    });
  }

  async start(onEvent: (event: BusEvent) => void, local: LocalView): Promise<void> {
    if (this.started) throw new Error('redis engine started twice');
    this.started = true;
    this.onEvent = onEvent;
    const receive = (_channel: string, message: string) => this.receive(message);
    this.sub.on(this.sharded ? 'smessage' : 'message', receive);
    const timeout = this.opts.connectTimeoutMs ?? 10_000;
    try {
      await Promise.all([connectClient(this.cmd, timeout, 'redis engine'), connectClient(this.sub, timeout, 'redis engine subscriber')]);
      await this.presence.start(local);
      this.liveness.start();
    } catch (err) {
      this.cmd.disconnect();
      this.sub.disconnect();
      throw err;
    }
    this.logger.info({ redis: this.parsed.display, mode: this.parsed.mode, prefix: this.opts.keyPrefix }, 'redis engine started');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.subs.flushed();
    this.subs.close();
    this.liveness.stop();
    await this.presence.stop().catch(() => {});
    await Promise.all([closeClient(this.sub), closeClient(this.cmd)]);
  }

  isReady(): boolean {
    return !this.closed && this.cmd.status === 'ready' && this.sub.status === 'ready' && this.subs.isSynced();
  }

  /**
   * Called after the subscriber reconnected and every channel is subscribed
   * again. Pub/sub does not buffer: events published while it was away are
   * gone, so the node should re-read the inboxes of its connected users
   * (reliable messages are in Redis; ephemeral ones are lost by design).
   */
  onResync(listener: () => void): void {
    this.subs.onResync(listener);
  }

  // ---- transport ----

  async publish(event: BusEvent): Promise<void> {
    const channel = this.keys.eventChannel(event);
    const payload = this.echoPrefix + JSON.stringify(event);
    const sent = this.sharded ? (this.cmd as Cluster).spublish(channel, payload) : this.cmd.publish(channel, payload);
    await sent.catch(this.failed('publish'));
  }

  /**
   * Batched (see subscriptions.ts). The returned promise (an extension of the
   * Engine contract, which returns void) resolves when Redis confirmed the
   * subscription; it never rejects — during an outage it resolves and the
   * subscription is made on reconnect.
   */
  subscribe(route: Route): Promise<void> {
    const channel = this.keys.routeChannel(route);
    if (route.kind === 'user') this.reannouncer.track(channel, route.tenant, route.user);
    return this.subs.add(channel);
  }

  unsubscribe(route: Route): void {
    const channel = this.keys.routeChannel(route);
    if (route.kind === 'user') this.reannouncer.untrack(channel);
    this.subs.remove(channel);
  }

  /** Resolves once subscribe/unsubscribe calls made so far reached Redis (tests, orderly start-up). */
  subscriptionsFlushed(): Promise<void> {
    return this.subs.flushed();
  }

  // ---- reliable inbox (redisInbox.ts) ----

  append(tenant: string, user: string, message: NewInboxMessage, retention: Retention, once?: AppendOnce): Promise<StoredMessage> {
    return this.inbox.append(tenant, user, message, retention, once);
  }

  /** The first read of a stream begun by connectStart is its script's (connectStart.ts). */
  readAfter(tenant: string, user: string, after: number, limit: number, retention: Retention): Promise<InboxRange> {
    return this.starts?.take(tenant, user, after, limit, retention) ?? this.inbox.readAfter(tenant, user, after, limit, retention);
  }

  getCursor(tenant: string, user: string, device: string): Promise<number | undefined> {
    return this.inbox.getCursor(tenant, user, device);
  }

  setCursor(tenant: string, user: string, device: string, seq: number): Promise<void> {
    return this.inbox.setCursor(tenant, user, device, seq);
  }

  deviceCursors(tenant: string, user: string): Promise<{ count: number; max: number }> {
    return this.inbox.deviceCursors(tenant, user);
  }

  firstForDevice(tenant: string, user: string, device: string, after: number, upTo: number): Promise<number | undefined> {
    return this.inbox.firstForDevice(tenant, user, device, after, upTo);
  }

  /** Every read of a connect in one script (connectReads.ts). */
  connectReads(q: ConnectReadsQuery): Promise<ConnectReads> {
    return readForConnect(this.cmd, this.keys, this.inbox, q, (t, u, all) => this.presence.devicesOf(t, u, all)).catch(this.failed('read'));
  }

  /** A connect's presence record, the new device's cursor and its first replay read: one script (connectStart.ts); on Cluster one by one. */
  connectStart(q: ConnectStart, stream: { begin(): void }): Promise<boolean> {
    if (this.starts) return this.starts.start(q, stream);
    const p = q.presence;
    if (q.cursor !== undefined) this.setCursor(p.tenant, p.user, p.device, q.cursor).catch((err: unknown) => this.logger.warn({ err }, 'cursor write failed'));
    stream.begin();
    return this.presenceAdd(p, q.announce, q.publish);
  }

  // ---- idempotency and shared buckets (redisKeyStore.ts) ----

  idempotencyClaim(key: string, leaseMs: number): Promise<{ state: 'new' } | { state: 'pending' } | { state: 'done'; result: string }> {
    return this.keyStore.idempotencyClaim(key, leaseMs);
  }

  idempotencyRenew(key: string, leaseMs: number): Promise<void> {
    return this.keyStore.idempotencyRenew(key, leaseMs);
  }

  idempotencyComplete(key: string, result: string, ttlMs: number): Promise<void> {
    return this.keyStore.idempotencyComplete(key, result, ttlMs);
  }

  idempotencyRelease(key: string): Promise<void> {
    return this.keyStore.idempotencyRelease(key);
  }

  /** Shared token bucket: 0 when `cost` was taken, else the ms to wait. */
  takeTokens(key: string, ratePerSec: number, burst: number, cost: number): Promise<number> {
    return this.keyStore.takeTokens(key, ratePerSec, burst, cost);
  }

  // ---- presence ----

  /** On a single Redis `publish` goes out with the presence script (one command); on Cluster by a command of its own. */
  presenceAdd(device: DevicePresence, announce?: boolean, publish?: BusEvent): Promise<boolean> {
    if (publish === undefined || this.presence.indexInScript) {
      const pub = publish && { channel: this.keys.eventChannel(publish), message: this.echoPrefix + JSON.stringify(publish) };
      return this.presence.add(device, announce, pub).catch(this.failed('presence'));
    }
    const added = this.presence.add(device, announce).catch(this.failed('presence'));
    this.publish(publish).catch((err: unknown) => this.logger.warn({ err }, 'publish with presence failed'));
    return added;
  }

  presenceRemove(device: DevicePresence, announce?: boolean): Promise<boolean> {
    return this.presence.remove(device, announce).catch(this.failed('presence'));
  }

  /** Single Redis only: on Cluster the outbox stream and the user's keys are in different slots. */
  writePresenceEvents(sink: PresenceEventSink): boolean {
    if (!this.sharded) this.presence.sink = sink;
    return !this.sharded;
  }
  /** On the command connection, like the presence scripts: a node's events are stored in the order it made them. */
  appendEvent(w: EventWrite): Promise<void> {
    return this.cmd.xadd(w.key, 'MAXLEN', '~', w.maxLen, '*', ...w.fields).then(() => undefined);
  }
  onNodeLost(listener: (lost: LostConnection[]) => void): void {
    this.presence.onLost = listener;
  }

  roomJoin(tenant: string, room: string, member: RoomMember): Promise<void> {
    return this.presence.join(tenant, room, member).catch(this.failed('presence'));
  }

  roomLeave(tenant: string, room: string, member: RoomMember): Promise<void> {
    return this.presence.leave(tenant, room, member).catch(this.failed('presence'));
  }

  roomState(tenant: string, room: string, member: RoomMember, state: string | undefined): Promise<void> {
    return this.presence.state(tenant, room, member, state).catch(this.failed('presence'));
  }

  userPresence(tenant: string, user: string): Promise<DevicePresence[]> {
    return this.presence.userDevices(tenant, user).catch(this.failed('presence'));
  }

  roomPresence(tenant: string, room: string): Promise<RoomMember[]> {
    return this.presence.roomMembers(tenant, room).catch(this.failed('presence'));
  }

  onlineCount(route: Route): Promise<number> {
    return this.presence.count(route).catch(this.failed('presence'));
  }

  // ---- observability (optional engine methods read by metrics and the admin view) ----

  /** Every live node's last report; this node's own row is added live by the admin view. */
  nodes(): Promise<NodeSummary[]> {
    return this.presence.nodes();
  }

  /** One PING for the round-trip time, plus cumulative error counts. */
  async stats(): Promise<EngineStats> {
    if (this.cmd.status === 'ready') {
      const t0 = performance.now();
      try {
        await this.cmd.ping();
        this.lastRttSeconds = (performance.now() - t0) / 1000;
      } catch {
        this.errors.ping = (this.errors.ping ?? 0) + 1;
      }
    }
    return { ...(this.lastRttSeconds !== undefined ? { redisRttSeconds: this.lastRttSeconds } : {}), errors: { ...this.errors } };
  }

  /** The admin user lookup: one read-only script over the user's keys (inspect.ts). */
  async inspectInbox(tenant: string, user: string, devices: string[], maxMessages: number): Promise<InboxInspection> {
    const k = this.keys;
    const reply = (await this.cmd
      .eval(INSPECT, 3, k.userMeta(tenant, user), k.userInbox(tenant, user), k.userCursors(tenant, user), Date.now(), Math.max(1, Math.floor(maxMessages)), ...devices)
      .catch(this.failed('inspect'))) as (string | number)[];
    return parseInspection(devices, reply);
  }

  /** Refreshes this node's liveness and count reports now (also runs on its own every heartbeat). */
  refreshPresence(): Promise<void> {
    return this.presence.heartbeat();
  }

  /** Counts a failed operation and passes the error on; one handler per kind, not a closure per call (issue 20). */
  private failed(op: string): (err: unknown) => never {
    let h = this.failHandlers.get(op);
    if (!h) {
      h = (err: unknown) => {
        this.errors[op] = (this.errors[op] ?? 0) + 1;
        throw err;
      };
      this.failHandlers.set(op, h);
    }
    return h;
  }

  private receive(message: string): void {
    // Own echo: the node already delivered to its own connections.
    if (message.startsWith(this.echoPrefix)) return;
    const nl = message.indexOf('\n');
    if (nl < 0) return;
    let event: BusEvent;
    try {
      event = JSON.parse(message.slice(nl + 1)) as BusEvent;
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'dropping malformed bus message');
      return;
    }
    try {
      this.onEvent(event);
    } catch (err) {
      this.logger.error({ err: (err as Error).message, kind: event.kind }, 'bus event handler threw');
    }
  }
}
