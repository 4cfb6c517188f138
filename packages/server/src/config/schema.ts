/**
 * The one configuration schema. Every key has a default, a unit in its name
 * (…Ms, …Sec, …Bytes) and a description; docs/configuration.md lists the same
 * keys and a test checks the two agree. Keys are flat so that each maps
 * mechanically to an environment variable (HERALD_ + SCREAMING_SNAKE) and a
 * flag (--kebab-case).
 */
import { z } from 'zod';
import { isRedisUrl } from '../redis/url.js';
import { eventRateLimitsType, tenantOverridesType } from './objectKeys.js';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const JWT_ALGS = ['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'ES256', 'ES384', 'EdDSA'] as const;

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const bool = z.preprocess((v) => {
  if (typeof v !== 'string') return v;
  const s = v.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(s)) return true;
  if (['0', 'false', 'no', 'off'].includes(s)) return false;
  return v;
}, z.boolean());
const list = <T extends z.ZodTypeAny>(item: T) =>
  z.preprocess((v) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : v), z.array(item));

/** An outbound call target: http or https only (undici would refuse others at the first call, not at start-up). */
const httpUrl = z
  .string()
  .url()
  .refine((u) => /^https?:\/\//i.test(u), 'expected an http:// or https:// URL');

/** Each entry: the zod type (with default) and a one-line description for docs and --help. */
export const CONFIG_KEYS = {
  port: { type: int(0, 65535).default(8080), doc: 'TCP port for WebSocket and HTTP (0 picks a free port).' },
  host: {
    type: z.string().min(1).optional(),
    doc: 'Address to listen on. Unset: 0.0.0.0 (every interface) with a JWT secret; 127.0.0.1 in dev mode, so a forgotten secret never exposes the token-minting demo.',
  },
  nodeId: { type: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/).optional(), doc: 'Node id shown in welcome frames and metrics (default: hostname-pid).' },
  logLevel: { type: z.enum(LOG_LEVELS).default('info'), doc: 'Log level: fatal, error, warn, info, debug, trace or silent.' },

  engine: { type: z.enum(['memory', 'redis']).default('memory'), doc: 'Storage and cross-node engine: memory (one process) or redis.' },
  redisUrl: {
    type: z
      .string()
      .min(1)
      .refine(isRedisUrl, 'expected redis://, rediss://, redis+sentinel://h1:p,h2:p/master or redis+cluster://h1:p,h2:p')
      .default('redis://127.0.0.1:6379'),
    doc: 'Redis URL for the redis engine: redis://, rediss://, redis+sentinel://h1:p,h2:p/master[/db], redis+cluster://h1:p,h2:p.',
  },
  ingestEnabled: { type: bool.default(true), doc: 'With the redis engine: consume the ingest stream (consumer group `herald`).' },
  ingestStream: { type: z.string().min(1).optional(), doc: 'Ingest stream key (default: <redisKeyPrefix>ingest, i.e. herald:ingest).' },
  ingestClaimIdleMs: { type: int(1000, 3_600_000).default(30_000), doc: 'Pending ingest entries idle this long are taken over from their (dead) consumer, ms.' },
  ingestMaxDeliveries: { type: int(1, 1000).default(10), doc: 'Deliveries after which an ingest entry goes to the dead-letter stream.' },
  // NATS JetStream and PostgreSQL outbox ingest (DESIGN.md §7, docs/ingest.md): each runs when its URL is set.
  ingestNatsUrl: {
    type: z.string().min(1).regex(/^(nats|tls):\/\/[^\s,]+(,(nats|tls):\/\/[^\s,]+)*$/, 'expected nats://host:port (comma-separated for several servers)').optional(),
    doc: 'NATS server URL(s) for JetStream ingest, comma-separated (nats://host:4222). Unset: no NATS ingest.',
  },
  ingestNatsStream: { type: z.string().regex(/^[A-Za-z0-9_-]{1,58}$/, '1-58 of [A-Za-z0-9_-]').default('HERALD_INGEST'), doc: 'JetStream stream to consume (created if absent, work-queue retention). Dead letters are kept in <stream>_DEAD unless a stream already captures <subject>.dead.' },
  ingestNatsSubject: {
    type: z.string().regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, 'dot-separated tokens of [A-Za-z0-9_-], no wildcards').max(200).default('herald.ingest'),
    doc: 'Subject producers publish to; bad entries go to <subject>.dead with the reason in the Herald-Dead-Reason header.',
  },
  ingestNatsDurable: { type: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, '1-64 of [A-Za-z0-9_-]').default('herald'), doc: 'Durable pull consumer shared by all nodes (created if absent).' },
  ingestNatsMaxDeliver: { type: int(1, 1000).default(10), doc: 'Deliveries of a NATS entry after which a still-failing entry goes to the dead letter.' },
  ingestNatsAckWaitMs: { type: int(1000, 3_600_000).default(30_000), doc: 'Time a node has to ack a NATS entry before JetStream redelivers it (to any node), ms.' },
  ingestNatsBatch: { type: int(1, 10_000).default(64), doc: 'NATS entries pulled per request (buffered by the node).' },
  ingestNatsConcurrency: { type: int(1, 1000).default(1), doc: 'NATS entries published at once per node. 1 keeps stream order; more is faster, unordered.' },
  ingestNatsRetryDelayMs: { type: int(10, 600_000).default(1_000), doc: 'First redelivery delay of a NATS entry whose publish failed transiently (nak), doubling per delivery up to 60 s, ms.' },
  ingestNatsDeadMaxMessages: { type: int(1, 100_000_000).default(100_000), doc: 'Cap of the dead-letter stream Herald creates (<stream>_DEAD); the oldest dead letters are discarded beyond it.' },
  ingestNatsTimeoutMs: { type: int(100, 600_000).default(10_000), doc: 'Timeout of the NATS connect and of every JetStream call (stream/consumer setup, ack, dead-letter publish), ms.' },
  ingestPgUrl: {
    type: z.string().min(1).regex(/^postgres(ql)?:\/\//, 'expected postgres://user@host:port/db').optional(),
    doc: 'PostgreSQL URL for the transactional outbox ingest (postgres://user@host:5432/db). Unset: no outbox ingest.',
  },
  ingestPgTable: {
    type: z.string().regex(/^[a-z_][a-z0-9_]{0,55}$/, 'a lower-case SQL identifier: [a-z_][a-z0-9_]*, at most 56 characters').default('herald_outbox'),
    doc: 'Outbox table (created if absent, with a NOTIFY trigger on the channel of the same name); bad rows move to <table>_dead.',
  },
  ingestPgBatch: { type: int(1, 10_000).default(100), doc: 'Outbox rows claimed per transaction (FOR UPDATE SKIP LOCKED, in id order).' },
  ingestPgConcurrency: { type: int(1, 1000).default(1), doc: 'Outbox rows of a batch published at once. 1 keeps id order; more is faster, unordered.' },
  ingestPgPollMs: { type: int(50, 3_600_000).default(1_000), doc: 'Outbox poll interval, ms: the backstop for a missed NOTIFY wake-up.' },
  ingestPgRetryDelayMs: { type: int(10, 600_000).default(1_000), doc: 'Wait after a transient publish failure before the outbox batch is claimed again, doubling per failure up to 60 s, ms.' },
  ingestPgMaxAttempts: { type: int(1, 1000).default(10), doc: 'Transient failures of one outbox row (counted by the node) after which it moves to <table>_dead.' },
  ingestPgTimeoutMs: { type: int(100, 600_000).default(10_000), doc: 'Timeout of the PostgreSQL connect and of every outbox query, ms.' },
  redisKeyPrefix: { type: z.string().min(1).max(64).default('herald:'), doc: 'Prefix of every Redis key and channel.' },

  // RabbitMQ ingest (docs/ingest.md); on with ingestAmqpUrl, on any engine.
  ingestAmqpUrl: {
    type: z.string().regex(/^amqps?:\/\/\S+$/, 'expected amqp://user:pass@host:port/vhost or amqps://…').optional(),
    doc: 'RabbitMQ URL to ingest publish bodies from (amqp:// or amqps://; ?heartbeat=N overrides the 10 s default). Unset: no RabbitMQ ingest.',
  },
  ingestAmqpQueue: { type: z.string().min(1).max(250).default('herald.ingest'), doc: 'RabbitMQ queue to consume (durable, declared by Herald); dead letters go to <queue>.dead.' },
  ingestAmqpPrefetch: { type: int(1, 65_535).default(32), doc: 'RabbitMQ messages delivered to a node and not yet acked, at most (basic.qos prefetch).' },
  ingestAmqpConcurrency: { type: int(1, 1024).default(1), doc: 'RabbitMQ messages a node publishes at once (1 keeps queue order).' },
  ingestAmqpMaxBytes: { type: int(64, 64 * 1024 * 1024).default(1024 * 1024), doc: 'Largest RabbitMQ message body, bytes (over it: dead letter).' },
  ingestAmqpRetryDelayMs: { type: int(10, 600_000).default(2_000), doc: 'A RabbitMQ message that failed for a transient reason (engine down, 409, 429) is held this long, then requeued, ms.' },
  ingestAmqpTimeoutMs: { type: int(100, 120_000).default(10_000), doc: 'Timeout of each call to RabbitMQ (connect, declare, dead-letter confirm, cancel, close), ms.' },
  ingestAmqpReconnectMaxMs: { type: int(100, 600_000).default(30_000), doc: 'Longest pause between RabbitMQ reconnect attempts (exponential backoff with jitter), ms.' },

  jwtSecret: { type: z.string().min(16).optional(), doc: 'HMAC secret for HS* tokens. Unset: dev mode (a generated secret).' },
  jwtAlgorithms: { type: list(z.enum(JWT_ALGS)).default(['HS256']), doc: 'Accepted JWT algorithms (pinned; the token header never chooses).' },
  jwtPublicKey: { type: z.string().optional(), doc: 'PEM public key (or path to one) for RS*/PS*/ES*/EdDSA tokens.' },
  jwksUrl: { type: z.string().url().optional(), doc: 'JWKS URL to fetch verification keys from.' },
  jwtIssuer: { type: z.string().optional(), doc: 'Required `iss` claim, when set.' },
  jwtAudience: { type: z.string().optional(), doc: 'Required `aud` claim, when set.' },
  jwtRequireExp: { type: bool.default(true), doc: 'Reject tokens without `exp`.' },
  jwtClockToleranceSec: { type: int(0, 300).default(5), doc: 'Clock skew allowed for exp/nbf, seconds.' },
  apiKey: { type: z.string().min(16).optional(), doc: 'Bearer key for the HTTP API. Unset in dev mode: generated.' },

  authTimeoutMs: { type: int(100, 120_000).default(10_000), doc: 'Time a connection without a token in the URL has to send its auth frame, ms.' },
  heartbeatMs: { type: int(100, 600_000).default(25_000), doc: 'Heartbeat interval announced to clients, ms. Silence for 2x this closes the connection (4010).' },
  maxFrameBytes: { type: int(128, 16 * 1024 * 1024).default(64 * 1024), doc: 'Largest inbound WebSocket frame, bytes (over it: close 1009).' },
  maxMessageBytes: { type: int(16, 16 * 1024 * 1024).default(64 * 1024), doc: 'Largest published `data` (JSON-encoded), bytes (over it: HTTP 413 / error frame).' },
  maxJsonDepth: { type: int(2, 1_000).default(32), doc: 'Deepest nesting of arrays/objects accepted in a client frame or HTTP request body (over it: error bad_field / HTTP 400).' },
  maxRoomsPerConnection: { type: int(0, 100_000).default(100), doc: 'Rooms one connection may join.' },
  outboundBufferBytes: { type: int(1024, 1024 * 1024 * 1024).default(4 * 1024 * 1024), doc: 'Outbound bytes buffered for one connection before it is closed as a slow consumer (4009).' },
  binaryCompression: {
    type: list(z.enum(['none', 'deflate', 'zstd'])).default(['zstd', 'deflate']),
    doc: 'Codecs offered to protocol v2 (herald.v2.bin) clients; the client picks by its `compression` query. zstd only where node:zlib has it (Node >= 22.15), else ignored. Empty: none.',
  },
  binaryCompressionThresholdBytes: { type: int(0, 16 * 1024 * 1024).default(1024), doc: 'Protocol v2: server frames with a payload of at least this many bytes are compressed, when a codec was negotiated.' },
  binaryMaxDecompressedBytes: { type: int(128, 64 * 1024 * 1024).optional(), doc: 'Protocol v2: largest client payload after decompression, bytes (over it: close 1009). Unset: maxFrameBytes.' },
  roomPresenceEvents: { type: bool.default(true), doc: 'Send join/leave events to room members.' },
  roomPresenceMaxMembers: { type: int(0, 10_000_000).default(100), doc: 'Rooms larger than this get no join/leave events (presence queries still work).' },
  roomHistorySize: { type: int(0, 10_000).default(0), doc: 'Messages kept per room for history and recovery (0: off; rooms then carry no offset/epoch). Per-room overrides: roomHistoryOverrides.' },
  roomHistoryTtlSec: { type: int(1, 30 * 86_400).default(3_600), doc: 'Age after which a room message leaves history, seconds; a room with no publish for this long loses its history and epoch.' },
  roomHistoryOverrides: {
    type: list(z.string().regex(/^[A-Za-z0-9._:@/-]{1,128}=\d{1,5}(:\d{1,7})?$/, 'expected <room prefix>=<size>[:<ttlSec>]')).default([]),
    doc: 'Per-room history by room-name prefix, longest prefix wins: e.g. chat:=500:86400,cursors:=0 (size, optional ttlSec).',
  },
  roomHistoryMaxTotalBytes: {
    type: int(0, 1024 * 1024 * 1024 * 1024).default(64 * 1024 * 1024),
    doc: 'Memory engine: bytes of room history held in all rooms together (data plus ~96 bytes per message; 0: no limit). Over it the least recently published rooms lose their history (new epoch).',
  },
  roomHistoryMaxLimit: { type: int(1, 10_000).default(100), doc: 'Largest `limit` of a history frame or GET /rooms/:room/history (default limit is this too).' },
  roomStateMaxBytes: { type: int(2, 1024 * 1024).default(4 * 1024), doc: 'Largest awareness `state` of one connection in a room (JSON-encoded), bytes (over it: error payload_too_large).' },
  roomStateRatePerConn: { type: int(0, 100_000).default(60), doc: 'Awareness state frames per second per connection (0: no limit). Over it: error rate_limited.' },
  roomStateBurstPerConn: { type: int(1, 1_000_000).default(120), doc: 'Burst of awareness state frames per connection.' },
  roomStateFlushMs: { type: int(0, 10_000).default(50), doc: 'Awareness state is coalesced per connection and room: members get the latest state at most once per this window, ms (0: every update at once).' },
  roomBatchWindowMs: {
    type: int(0, 1_000).default(0),
    doc: 'Room batching window, ms (0: off). On: room messages published within it reach each member as one `batch` frame (v1) / Batch frame (v2), in order, at most this much later (docs/protocol.md#batch). For very high-rate rooms; SSE streams still get one event per message.',
  },
  roomBatchMaxBytes: { type: int(1024, 16 * 1024 * 1024).default(64 * 1024), doc: 'With roomBatchWindowMs on: a room batch is sent early once its messages reach this many bytes (JSON text), bytes.' },

  ackTimeoutMs: { type: int(10, 600_000).default(5_000), doc: 'Time a device has to ack a reliable message before it is resent, ms (doubles per attempt).' },
  ackMaxAttempts: { type: int(1, 100).default(5), doc: 'Attempts to deliver an unacked reliable message, the first send included (5 = 1 send + 4 retries); after the last one times out the connection is closed 4012.' },
  maxInflight: { type: int(1, 100_000).default(1_000), doc: 'Unacked reliable messages per device before sending pauses until acks arrive.' },
  replayBatch: { type: int(1, 10_000).default(200), doc: 'Messages read from the inbox per replay step.' },
  inboxMaxMessages: { type: int(1, 10_000_000).default(1_000), doc: 'Reliable messages kept per user (oldest dropped first).' },
  inboxMaxAgeSec: { type: int(1, 365 * 86_400).default(7 * 86_400), doc: 'Age after which a reliable message leaves the inbox, seconds.' },
  idempotencyTtlSec: { type: int(1, 86_400).default(300), doc: 'How long an idempotency_key remembers its first result, seconds.' },
  idempotencyLeaseMs: {
    type: int(100, 600_000).default(5_000),
    doc: 'Lease of an idempotency_key claimed by a publish still running, ms; renewed while it runs. A node that dies mid-publish frees the key after this (retries answer 409 until then).',
  },
  newDeviceStart: {
    type: z.enum(['tip', 'unacked', 'oldest']).default('unacked'),
    doc: "Where a user's new device starts when the user already has devices: unacked (after the newest message any device acked), oldest (the oldest retained message) or tip (only new messages). A user's first device always starts at the oldest retained message; messages targeted at the device are always delivered.",
  },
  memoryMaxStoredBytes: {
    type: int(0, 1024 * 1024 * 1024 * 1024).default(256 * 1024 * 1024),
    doc: 'Memory engine: bytes of reliable messages stored in all inboxes together (message data and fields plus ~96 bytes each; 0: no limit). Over it: HTTP 507 storage_full.',
  },

  maxConnections: { type: int(0, 10_000_000).default(18_000), doc: 'WebSocket connections one node holds, authenticated or not (0: no limit). Over it: close 4005.' },
  maxConnectionsPerUser: { type: int(0, 100_000).default(20), doc: 'Connections one user may hold on a node (0: no limit). Over it: close 4005.' },
  maxPendingAuth: { type: int(0, 10_000_000).default(2_000), doc: 'Connections still authenticating on a node (0: no limit). Over it: close 4005.' },
  maxPreAuthBytes: { type: int(64, 16 * 1024 * 1024).default(16 * 1024), doc: 'Largest frame accepted before the welcome, bytes (the auth frame). Over it: close 1009.' },
  connectRatePerIp: { type: int(0, 1_000_000).default(100), doc: 'New WebSocket connections per second from one client address (0: no limit). Over it: close 4005.' },
  connectBurstPerIp: { type: int(1, 10_000_000).default(500), doc: 'Burst of new connections allowed from one client address.' },
  trustedProxies: { type: list(z.string().min(1)).default([]), doc: 'Addresses of proxies whose X-Forwarded-For is believed for the client address.' },
  allowedOrigins: { type: list(z.string().min(1)).default([]), doc: 'Browser origins allowed to open WebSockets, exact match (e.g. https://app.example.com). Empty: any. Others get HTTP 403.' },
  frameRatePerUser: { type: int(0, 1_000_000).default(100), doc: 'Client frames per second per user, acks excluded (0: no limit). Over it: close 4008.' },
  frameBurstPerUser: { type: int(1, 10_000_000).default(200), doc: 'Burst of client frames per user.' },
  frameRatePerTenant: { type: int(0, 10_000_000).default(20_000), doc: 'Client frames per second per tenant, acks excluded (0: no limit). Over it: close 4008.' },
  frameBurstPerTenant: { type: int(1, 100_000_000).default(40_000), doc: 'Burst of client frames per tenant.' },
  publishRatePerUser: { type: int(0, 1_000_000).default(20), doc: 'Room publishes per second per user from clients (0: no limit). Over it: error frame rate_limited.' },
  publishBurstPerUser: { type: int(1, 10_000_000).default(40), doc: 'Burst of room publishes per user.' },
  apiPublishRatePerTenant: { type: int(0, 10_000_000).default(20_000), doc: 'Messages per second the HTTP API accepts per target tenant (0: no limit). Over it: HTTP 429 with Retry-After.' },
  apiPublishBurstPerTenant: { type: int(1, 100_000_000).default(40_000), doc: 'Burst of API messages per tenant.' },
  httpHeadersTimeoutMs: { type: int(1_000, 600_000).default(10_000), doc: 'Time a client has to send complete HTTP request headers, ms (slowloris guard).' },
  httpRequestTimeoutMs: { type: int(1_000, 3_600_000).default(30_000), doc: 'Time a client has to send a complete HTTP request, ms.' },
  maxHttpSocketsPerIp: {
    type: int(0, 1_000_000).default(256),
    doc: 'Open HTTP sockets per TCP peer address that have not become WebSockets (requests, keep-alive, pre-upgrade); 0: no limit. Over it: HTTP 429, socket closed. Peers listed in trustedProxies are exempt.',
  },
  authFailuresPerIpPerMin: { type: int(0, 1_000_000).default(60), doc: 'Failed API-key checks (HTTP API bearer, admin login and admin feed) per minute per client address (0: no limit). Over it: HTTP 429 rate_limited with Retry-After, even for a correct key, until the budget refills.' },
  authFailureBurstPerIp: { type: int(1, 1_000_000).default(30), doc: 'Burst of failed API-key checks per client address before authFailuresPerIpPerMin applies.' },
  httpMaxBodyBytes: { type: int(1024, 64 * 1024 * 1024).default(1024 * 1024), doc: 'Largest HTTP request body, bytes (over it: 413).' },
  batchMaxMessages: { type: int(1, 10_000).default(100), doc: 'Messages per /publish/batch request.' },
  shutdownTimeoutMs: { type: int(0, 600_000).default(10_000), doc: 'Time allowed for a graceful shutdown, ms.' },
  compactAfterConnects: {
    type: int(0, 10_000_000).default(1_000),
    doc: 'After this many connects since the last compaction, a node that then goes compactQuietMs without a new connect, its event loop idle, compacts the heap (full garbage collections a second apart while they shrink the old space, at most 4): garbage promoted during a connect storm otherwise keeps old-space pages committed (RSS). 0: never. Needs V8\'s gc: herald serve exposes it; embedded, start Node with --expose-gc.',
  },
  compactQuietMs: { type: int(100, 3_600_000).default(5_000), doc: 'Time without a new connect, with the event loop under 5 % busy, before that compaction, ms.' },
  drainWindowMs: { type: int(0, 600_000).default(5_000), doc: 'On shutdown, WebSocket clients are closed 1001 in waves spread over this window, ms, so they do not all reconnect at once (capped below shutdownTimeoutMs).' },
  adminInspectMaxMessages: { type: int(1, 1_000_000).default(10_000), doc: 'Admin user lookup: inbox messages walked at most per lookup (newest first; beyond it the counts are lower bounds).' },
  webhookSecret: { type: z.string().min(16).optional(), doc: 'Secret that signs every outbound call, webhooks and hooks alike: header Herald-Signature: t=<unix s>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")> (docs/events.md).' },
  hookConnectUrl: { type: httpUrl.optional(), doc: 'Connect hook (docs/hooks.md): a WebSocket without `token` in its URL is authenticated by a signed POST here (headers with cookie, query, remote address). Unset: such a connection sends an auth frame.' },
  hookJoinUrl: { type: httpUrl.optional(), doc: 'Join hook (docs/hooks.md): every room join, after the token/connect `rooms` allow-list, is allowed or refused by a signed POST here.' },
  hookPublishUrl: { type: httpUrl.optional(), doc: 'Publish hook (docs/hooks.md): every client room publish is allowed, refused or has its data replaced by a signed POST here.' },
  hookRpcUrl: { type: httpUrl.optional(), doc: 'RPC hook (docs/hooks.md): client `rpc` frames are answered by a signed POST here. Unset: rpc frames get error not_supported.' },
  hookConnectTimeoutMs: { type: int(10, 60_000).default(2_000), doc: 'Connect hook: whole call (queue wait included), ms. Past it the connection closes 1013.' },
  hookJoinTimeoutMs: { type: int(10, 60_000).default(2_000), doc: 'Join hook: whole call (queue wait included), ms. Past it the join gets error unavailable.' },
  hookPublishTimeoutMs: { type: int(10, 60_000).default(2_000), doc: 'Publish hook: whole call (queue wait included), ms. Past it the publish gets error unavailable.' },
  hookRpcTimeoutMs: { type: int(10, 60_000).default(2_000), doc: 'RPC hook: whole call (queue wait included), ms. Past it the rpc gets error unavailable.' },
  hookMaxConcurrency: { type: int(1, 100_000).default(64), doc: 'Calls one hook has in flight at once on a node; more wait in its queue.' },
  hookMaxQueue: { type: int(0, 1_000_000).default(1_000), doc: 'Calls waiting for a hook slot on a node; over it a call fails at once (queue_full).' },
  hookBreakerFailures: { type: int(1, 1_000).default(5), doc: 'Consecutive failures of a hook that open its circuit breaker (calls then fail at once: connect 1013, others error unavailable).' },
  hookBreakerOpenMs: { type: int(10, 3_600_000).default(10_000), doc: 'Time a hook breaker stays open before one probe call is let through (half-open), ms.' },
  hookMaxAnswerBytes: { type: int(64, 16 * 1024 * 1024).default(64 * 1024), doc: 'Largest hook answer read, bytes; a longer one is a failure (too_large) and its reading stops.' },
  hookMaxPendingPerConnection: { type: int(1, 10_000).default(16), doc: 'Hook-gated frames one connection may have waiting or in flight (room frames behind a join/publish hook, rpc calls); over it: error rate_limited.' },
  eventRateLimits: {
    type: eventRateLimitsType,
    doc: 'Per-event rate limits (docs/limits.md): {"<event or prefix*>": {"perSec": n, "burst": n}}, per tenant for API/ingest publishes and per user and room for client room publishes; events not listed are unlimited by it. Env/flag: one JSON string. Reloadable (SIGHUP).',
  },
  tenantOverrides: {
    type: tenantOverridesType,
    doc: 'Per-tenant overrides (docs/operations.md#live-configuration): {"<tenant>": {"limits": {...}, "eventRateLimits": {...}, "features": {"binaryProtocol": false, ...}}}. Env/flag: one JSON string. Reloadable (SIGHUP).',
  },
  shedEventLoopDelayMs: { type: int(0, 60_000).default(2_000), doc: 'Load shedding: event-loop delay p99 over one check interval above which the node sheds load (docs/operations.md#load-shedding), ms; 0: not watched.' },
  shedOutboundBufferedBytes: { type: int(0, 1024 * 1024 * 1024 * 1024).default(512 * 1024 * 1024), doc: 'Load shedding: bytes buffered for all connections together above which the node sheds load; 0: not watched.' },
  shedCheckIntervalMs: { type: int(10, 60_000).default(1_000), doc: 'Load shedding: how often the node measures itself, ms. Each check over a threshold sheds one more step; each check under the recovery level sheds one step less.' },
  shedRecoverPercent: { type: int(1, 99).default(50), doc: 'Load shedding hysteresis: a step is lifted only when every watched value is below this percentage of its threshold.' },
  shedRetryAfterSec: { type: int(1, 3_600).default(5), doc: 'Load shedding: retry hint sent with refusals (close 1013 reason, HTTP Retry-After), seconds.' },
  rebalanceEnabled: { type: bool.default(false), doc: 'Redis engine: a node holding more than its fair share of the cluster\'s connections closes some with 1001 `rebalance` (docs/operations.md#connection-balancing).' },
  rebalanceMarginPercent: { type: int(0, 1_000).default(20), doc: 'Connection balancing: how far above the fair share (total / nodes) a node may be before it sheds, percent.' },
  rebalanceMaxClosesPerSec: { type: int(1, 100_000).default(10), doc: 'Connection balancing: connections a node closes per second at most.' },
  rebalanceIntervalMs: { type: int(100, 600_000).default(5_000), doc: 'Connection balancing: how often a node compares its count with the cluster\'s, ms.' },
  storageCompression: {
    type: z.enum(['auto', 'zstd', 'deflate', 'none']).default('auto'),
    doc: 'Codec for stored payloads (inbox; docs/delivery.md#compressed-storage): auto (zstd where node:zlib has it, else deflate), zstd, deflate or none. Entries are flagged, so any setting reads every entry.',
  },
  storageCompressThresholdBytes: { type: int(64, 64 * 1024 * 1024).default(1_024), doc: 'Stored payloads of at least this many bytes are compressed (when storageCompression is not none).' },
  webhookUrl: {
    type: z.string().url().refine((u) => /^https?:\/\//.test(u), 'expected http:// or https://').optional(),
    doc: 'Where lifecycle events are POSTed as signed {"events":[…]} batches (docs/events.md). Requires webhookSecret. Unset: no webhooks.',
  },
  webhookEvents: {
    type: list(z.enum(['connect', 'disconnect', 'online', 'offline', 'join', 'leave', 'publish', 'acked', 'unacked'])).default([]),
    doc: 'Event types sent to webhookUrl (comma-separated, e.g. online,offline,unacked). Empty: every type.',
  },
  webhookBatchSize: { type: int(1, 10_000).default(100), doc: 'Most events in one webhook POST.' },
  webhookBatchMs: { type: int(1, 60_000).default(200), doc: 'Longest wait to fill a webhook batch, ms: events are sent at most this long after they happen (when the receiver keeps up).' },
  webhookTimeoutMs: { type: int(100, 120_000).default(5_000), doc: 'Timeout of one webhook POST, ms (then retried).' },
  webhookConcurrency: {
    type: int(1, 1_024).default(16),
    doc: 'Webhook partitions (by tenant+user hash): each has at most one POST in flight, so events of one user stay in order. Also the most POSTs in flight per cluster. Keep it equal on every node.',
  },
  webhookRetentionSec: { type: int(60, 30 * 86_400).default(86_400), doc: 'How long an undelivered event is retried before it is dropped (and counted), seconds.' },
  webhookMaxBackoffMs: { type: int(100, 3_600_000).default(60_000), doc: 'Longest wait between two attempts of a failing webhook batch, ms (exponential from 500 ms, with jitter).' },
  webhookMemoryMaxEvents: { type: int(1, 10_000_000).default(100_000), doc: 'Memory engine: events waiting for the webhook at most; newer ones are dropped (counted) while the outbox is full. Lost on a crash.' },
  webhookRedisMaxEvents: { type: int(1000, 100_000_000).default(1_000_000), doc: 'Redis engine: events per outbox partition stream at most (approximate trim of the oldest when over it; counted as dropped).' },
  notifyUnackedMaxSec: { type: int(1, 30 * 86_400).default(86_400), doc: 'Largest notify_unacked_after a publish may ask for, seconds (over it: HTTP 400).' },
  nodeHeartbeatMs: { type: int(50, 60_000).default(5_000), doc: 'Redis engine: how often a node proves it is alive and looks for crashed nodes, ms (capped at a third of nodeTtlMs).' },
  nodeTtlMs: {
    type: int(300, 300_000).default(15_000),
    doc: 'Redis engine: a node silent this long is dead: its devices leave presence, another node emits disconnect (1006, "node lost") and offline for them, and every node sends its room members data:null for the dead node\'s awareness states, within nodeTtlMs + nodeHeartbeatMs.',
  },
  adminSessionTtlSec: { type: int(60, 30 * 86_400).default(12 * 3600), doc: 'Lifetime of an /admin dashboard login (HttpOnly cookie derived from the API key), seconds.' },
} as const;

export type ConfigKey = keyof typeof CONFIG_KEYS;

const shape = Object.fromEntries(Object.entries(CONFIG_KEYS).map(([k, v]) => [k, v.type])) as {
  [K in ConfigKey]: (typeof CONFIG_KEYS)[K]['type'];
};

export const configSchema = z.strictObject(shape);

/** The validated configuration. */
export type HeraldConfig = z.output<typeof configSchema>;
/** What a caller may pass: any subset, values as strings or their real types. */
export type HeraldConfigInput = Partial<z.input<typeof configSchema>>;
