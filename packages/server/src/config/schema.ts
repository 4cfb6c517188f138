/**
 * The one configuration schema. Every key has a default, a unit in its name
 * (…Ms, …Sec, …Bytes) and a description; docs/configuration.md lists the same
 * keys and a test checks the two agree. Keys are flat so that each maps
 * mechanically to an environment variable (HERALD_ + SCREAMING_SNAKE) and a
 * flag (--kebab-case).
 */
import { z } from 'zod';
import { isRedisUrl } from '../redis/url.js';

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
  redisKeyPrefix: { type: z.string().min(1).max(64).default('herald:'), doc: 'Prefix of every Redis key and channel.' },

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

  ackTimeoutMs: { type: int(10, 600_000).default(5_000), doc: 'Time a device has to ack a reliable message before it is resent, ms (doubles per attempt).' },
  ackMaxAttempts: { type: int(1, 100).default(5), doc: 'Sends of an unacked message before the connection is closed 4012.' },
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
  drainWindowMs: { type: int(0, 600_000).default(5_000), doc: 'On shutdown, WebSocket clients are closed 1001 in waves spread over this window, ms, so they do not all reconnect at once (capped below shutdownTimeoutMs).' },
  adminInspectMaxMessages: { type: int(1, 1_000_000).default(10_000), doc: 'Admin user lookup: inbox messages walked at most per lookup (newest first; beyond it the counts are lower bounds).' },
  webhookSecret: { type: z.string().min(16).optional(), doc: 'Secret that signs every outbound call, webhooks and hooks alike: header Herald-Signature: t=<unix s>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")> (docs/events.md).' },
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
    doc: 'Redis engine: a node silent this long is dead: its devices leave presence, and another node emits disconnect (1006, "node lost") and offline for them within nodeTtlMs + nodeHeartbeatMs.',
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
