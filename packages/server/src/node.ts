/**
 * A Herald node: composes config, engine, gateway, publish pipeline and the
 * HTTP server on one port, and shuts them down in order.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { CloseCode } from '@herald/protocol';
import { loadConfig } from './config/load.js';
import type { HeraldConfig, HeraldConfigInput } from './config/schema.js';
import { applyDevMode, type DevSecrets } from './config/devMode.js';
import { createLogger, type Logger } from './observability/logger.js';
import { Stats } from './observability/stats.js';
import { Metrics } from './observability/metrics.js';
import { lifecycleStats } from './observability/lifecycleStats.js';
import { LifecycleEvents } from './events/lifecycle.js';
import { AdminHandler } from './admin/admin.js';
import { AdminUserActions } from './admin/userActions.js';
import { JwtVerifier } from './auth/jwtVerifier.js';
import { ApiKeyGuard } from './auth/apiKey.js';
import { mintToken } from './auth/tokens.js';
import { createEngine } from './engine/create.js';
import type { Engine } from './engine/types.js';
import { Gateway } from './gateway/gateway.js';
import { Publisher } from './delivery/publisher.js';
import { Router } from './api/router.js';
import { rejectUpgrade } from './api/http.js';
import { SocketGuard } from './api/socketGuard.js';
import { AuthThrottle } from './auth/authThrottle.js';
import { Limiter } from './limits/limiter.js';
import type { IngestSource } from './ingest/source.js';
import { createIngestSources, ingestRows, startIngestSources, streamIngestStats } from './ingest/create.js';
import { createHooks, type Hooks } from './hooks/hooks.js';
import { HookMetrics } from './hooks/hookMetrics.js';
import { LiveConfig, type ConfigSources, type ReloadResult } from './config/live.js';
import { LoadShedder } from './limits/loadShedder.js';
import { IdleCompaction } from './runtime/idleCompaction.js';
import { Rebalancer } from './gateway/rebalancer.js';
import { ConfigActions, reloadAndLog } from './admin/configActions.js';
import { registerProtectionMetrics } from './observability/protectionMetrics.js';
import { Webhooks } from './webhooks/webhooks.js';
import { WebhookStats } from './webhooks/stats.js';
import { registerWebhookMetrics } from './observability/webhookMetrics.js';
import { reportLostNodes } from './webhooks/lostNodes.js';

export interface HeraldNode {
  /** The port actually bound (useful with port 0). */
  readonly port: number;
  /** http://host:port */
  readonly url: string;
  readonly config: HeraldConfig & { jwtSecret: string; apiKey: string };
  readonly nodeId: string;
  /** Set in dev mode: the generated secrets. */
  readonly dev: DevSecrets | undefined;
  readonly log: Logger;
  readonly engine: Engine;
  readonly gateway: Gateway;
  readonly publisher: Publisher;
  /** Hot-path counters (e.g. `stats.limitRejected(name)` for limits) and the Prometheus registry. */
  readonly stats: Stats;
  readonly metrics: Metrics;
  /** The lifecycle seam: add a listener to hear connects, presence, room activity and delivery receipts. */
  readonly events: LifecycleEvents;
  /** The ingest sources this node consumes (docs/ingest.md), started; stopped first on drain. */
  readonly ingest: readonly IngestSource[];
  /** The hooks in the path that are configured (connect, join, publish, rpc): other transports reuse `hooks.connect`. */
  readonly hooks: Hooks;
  /** Set when webhookUrl is: the outbox, sender and their counters (docs/events.md). */
  readonly webhooks: Webhooks | undefined;
  /**
   * Hooks run first on a graceful shutdown, e.g. stopping stream-ingest
   * consumers so no new work is taken (each bounded by the shutdown timeout).
   */
  readonly onDrain: (() => Promise<void> | void)[];
  /** True once a graceful shutdown started (/readyz answers 503). */
  readonly draining: boolean;
  /**
   * Graceful drain: /readyz 503, refuse new WebSocket upgrades and publishes
   * (503 draining), run onDrain hooks, wait for in-flight HTTP requests, close
   * clients 1001 in waves over drainWindowMs, persist cursors, stop; all within
   * shutdownTimeoutMs.
   */
  close(): Promise<void>;
  /** Live configuration (limits, per-tenant overrides, rate tables): what a reload changes. */
  readonly live: LiveConfig;
  /** Re-reads the configuration sources and applies the reloadable keys (SIGHUP, admin action); refused whole on error. */
  reload(): ReloadResult;
  /** Load shedding state (limits/loadShedder.ts). */
  readonly shedder: LoadShedder;
}

export interface StartOptions {
  /** Use this logger instead of a new one. */
  logger?: Logger;
  /**
   * Where a reload re-reads the configuration (file, environment, flags). `herald serve` passes
   * its own; without it a reload re-validates the start-up input (nothing changes).
   */
  configSources?: ConfigSources;
  /**
   * A full garbage collection, for compaction after a connect storm (compactAfterConnects,
   * runtime/idleCompaction.ts). `herald serve` passes V8's. Default: `gc` when the process runs
   * with --expose-gc, else none (then the node never compacts).
   */
  gc?: () => void;
}

/**
 * Starts a node. `input` is either a validated config or raw values
 * (validated here with the same schema as files, env and flags).
 */
export async function startHerald(input: HeraldConfigInput = {}, opts: StartOptions = {}): Promise<HeraldNode> {
  // With sources (herald serve), start-up reads what a reload will read; `input` still wins.
  const src = opts.configSources;
  const base = loadConfig(src ? { ...src, overrides: { ...src.overrides, ...input } } : { overrides: input });
  const { config, dev } = applyDevMode(base);
  // Workers of `serve --workers` need distinct ids: a node skips messages carrying its own id as echoes.
  const slot = process.env.HERALD_WORKER_SLOT;
  const nodeId =
    config.nodeId !== undefined
      ? slot !== undefined && !config.nodeId.endsWith(`-w${slot}`)
        ? `${config.nodeId}-w${slot}`
        : config.nodeId
      : `${hostname().split('.')[0]}-${process.pid}-${randomBytes(2).toString('hex')}`;
  const log = opts.logger ?? createLogger(config.logLevel, { node: nodeId });
  const stats = new Stats();
  const startedAt = Date.now();
  let draining = false;
  const verifier = new JwtVerifier(config);
  await verifier.init();
  const engine = await createEngine(config, nodeId, log);
  const live = new LiveConfig(config, opts.configSources ?? { overrides: input });
  const limiter = new Limiter(live, stats, engine.buckets);
  const events = new LifecycleEvents();

  // Metrics read the gateway lazily: they are created before it.
  const holder: { gw?: Gateway } = {};
  const metrics = new Metrics({
    stats,
    nodeId,
    connectionsByPlatform: () => holder.gw?.registry.platforms ?? {},
    rooms: () => holder.gw?.registry.roomCount ?? 0,
    users: () => holder.gw?.registry.userCount ?? 0,
    inboxDepth: () => engine.introspection?.inboxDepth?.(),
    engineReady: () => engine.isReady(),
    // Optional engine counters (Redis: ingest lag/pending, RTT, errors); the memory engine has none.
    engineStats: async () => ({
      ...(await engine.introspection?.stats?.()),
      ...(await streamIngestStats(ingestSources).catch(() => ({}))),
    }),
    isDraining: () => draining,
    ingestSources: () => ingestRows(ingestSources),
  });
  events.add(lifecycleStats(stats, metrics));
  const hooks = createHooks(config, new HookMetrics(metrics.registry), log.child({ component: 'hooks' }));
  const shedHolder: { s?: LoadShedder } = {};
  const gw = new Gateway({
    config,
    nodeId,
    engine,
    verifier,
    events,
    log,
    stats,
    metrics,
    limiter,
    hooks,
    refuseConnections: () => (shedHolder.s && shedHolder.s.level >= 1 ? shedHolder.s.retryAfterSec : 0),
  });
  holder.gw = gw;
  const shedder = new LoadShedder(live, () => gw.bufferedBytes(), config.shedCheckIntervalMs);
  shedHolder.s = shedder;
  const rebalancer =
    config.rebalanceEnabled && engine.introspection?.nodes
      ? new Rebalancer({ live, nodeId, nodes: engine.introspection.nodes.bind(engine.introspection), localCount: () => gw.registry.size, closeSome: (n) => gw.closeForRebalance(n), log }, config.rebalanceIntervalMs)
      : undefined;
  const compaction = new IdleCompaction(
    { afterConnects: config.compactAfterConnects, quietMs: config.compactQuietMs },
    { gc: opts.gc ?? (globalThis as { gc?: () => void }).gc, connects: () => stats.connects, log },
  );
  registerProtectionMetrics(metrics, { shedder, live, rebalanced: () => rebalancer?.closed ?? 0, compaction });
  const hub = gw.hub;
  const publisher = new Publisher(
    engine,
    hub,
    stats,
    { maxMessageBytes: config.maxMessageBytes, idempotencyTtlMs: config.idempotencyTtlSec * 1000, idempotencyLeaseMs: config.idempotencyLeaseMs, notifyUnackedMaxSec: config.notifyUnackedMaxSec },
    limiter,
    gw.roomParts.roomPublisher,
  );
  // Crashed nodes' connections end on the seam (disconnect 1006 "node lost", offline), once for the cluster.
  reportLostNodes(engine, events);
  const webhooks = await Webhooks.start({ config, nodeId, engine, events, registry: metrics.registry, log });
  // Without webhooks the families still exist (at zero): dashboards and alerts see one schema.
  if (!webhooks) registerWebhookMetrics(metrics.registry, new WebhookStats());
  publisher.watchUnacked = webhooks?.watchUnacked;

  publisher.refuseEphemeral = () => (shedder.level >= 2 ? shedder.retryAfterSec : 0);
  await engine.start((ev) => hub.onBusEvent(ev), gw.registry);
  await engine.subscribe({ kind: 'all' });
  // Events published while the engine's transport was down were missed: re-read every inbox.
  engine.onResync?.(() => hub.resyncAll());

  // Ingest sources (docs/ingest.md): the Redis stream, RabbitMQ, …, each feeding the same publish pipeline.
  const ingestSources: IngestSource[] = await createIngestSources(
    config,
    async (body) => {
      await publisher.publishUnknown(body);
    },
    log,
    nodeId,
  );
  await startIngestSources(ingestSources);

  // One budget of failed API-key checks per client address, shared by the API and the dashboard.
  const authThrottle = new AuthThrottle(config, stats);
  const admin = new AdminHandler({
    authThrottle,
    apiKey: config.apiKey,
    guard: new ApiKeyGuard(config.apiKey),
    sessionTtlSec: config.adminSessionTtlSec,
    nodeId,
    engine,
    registry: gw.registry,
    metrics,
    stats,
    log,
    isDraining: () => draining,
    startedAt,
    ingestSources: () => ingestRows(ingestSources),
    protection: () => ({ loadShedding: shedder.state, config: { reloads: live.reloads }, rebalance: { enabled: rebalancer !== undefined, closed: rebalancer?.closed ?? 0 } }),
    webhooks: () => webhooks?.status(),
  });
  const adminUsers = new AdminUserActions({
    apiKey: config.apiKey,
    guard: new ApiKeyGuard(config.apiKey),
    authorized: (req) => admin.authorized(req),
    engine,
    hub,
    publisher,
    log,
    maxBodyBytes: config.httpMaxBodyBytes,
    inspectMaxMessages: config.adminInspectMaxMessages,
  });
  const router = new Router({
    roomHistory: { recovery: gw.roomParts.recovery, maxLimit: config.roomHistoryMaxLimit },
    apiKey: new ApiKeyGuard(config.apiKey),
    publisher,
    engine,
    hub,
    metrics,
    stats,
    log,
    maxBodyBytes: config.httpMaxBodyBytes,
    maxJsonDepth: config.maxJsonDepth,
    authThrottle,
    batchMaxMessages: config.batchMaxMessages,
    isDraining: () => draining,
    ingestSources: () => ingestRows(ingestSources),
    admin,
    adminUsers,
    configActions: new ConfigActions({ live, log, checkAction: (req) => adminUsers.checkAction(req) }),
    // Only while shedding: a calm node answers exactly as before (load balancers and probes parse it).
    readyDetail: () => (shedder.level > 0 ? { load: shedder.state.state, loadShedding: shedder.state } : {}),
    sse: gw.sse,
    ...(dev ? { devToken: (user: string, device: string) => mintToken({ secret: config.jwtSecret, sub: user, device, ttlSec: 86_400 }) } : {}),
  });

  const server: Server = createServer(
    {
      // Slowloris guards: a client must finish its headers and its request in bounded time. Node checks
      // both only every connectionsCheckingInterval (30 s by default, which made a 10 s headersTimeout
      // up to 40 s): check often enough that a timeout is honoured within a tenth of it (or 1 s).
      headersTimeout: config.httpHeadersTimeoutMs,
      requestTimeout: config.httpRequestTimeoutMs,
      connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(config.httpHeadersTimeoutMs / 10))),
    },
    // router.handle never throws, and counts the request in progress until it is answered (the drain waits for those: router.requests).
    (req, res) => router.handle(req, res),
  );
  const socketGuard = new SocketGuard(config.maxHttpSocketsPerIp, config.trustedProxies, stats);
  socketGuard.attach(server);
  // An SSE stream, like a WebSocket, falls under the gateway's limits once admitted.
  gw.sse.adopted = (socket) => socketGuard.upgraded(socket);
  server.on('upgrade', (req, socket, head) => {
    // From here the gateway's limits (pending auth, connect rate, connections) govern the socket.
    socketGuard.upgraded(socket);
    try {
      let url: URL;
      try {
        url = new URL(req.url ?? '/', 'http://localhost');
      } catch {
        // `GET //x:99999/ws` is no URL: refuse the upgrade (it used to throw out of the event handler and end the process).
        rejectUpgrade(socket, 400, 'Bad Request', 'invalid_field', 'the request target is not a valid URL path');
        return;
      }
      if (url.pathname !== '/ws') {
        rejectUpgrade(socket, 404, 'Not Found', 'not_found', 'the WebSocket path is /ws');
        return;
      }
      gw.handleUpgrade(req, socket, head, url.searchParams);
    } catch (err) {
      log.error({ err }, 'upgrade handler failed');
      rejectUpgrade(socket, 500, 'Internal Server Error', 'internal', 'internal error');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const shownHost = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  log.info({ port, host: config.host, engine: engine.kind, dev: dev !== undefined }, 'herald listening');

  const onDrain: (() => Promise<void> | void)[] = [];
  // First thing on drain: every ingest source stops taking entries; the ones in flight finish.
  for (const src of ingestSources) onDrain.push(() => src.stop());
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      const t0 = Date.now();
      const left = (): number => Math.max(0, config.shutdownTimeoutMs - (Date.now() - t0));
      const bounded = (p: Promise<unknown>, ms: number): Promise<unknown> => Promise.race([p, new Promise((r) => setTimeout(r, ms).unref())]);
      draining = true;
      gw.stopAccepting();
      log.info({ connections: gw.liveCount, drainWindowMs: config.drainWindowMs, shutdownTimeoutMs: config.shutdownTimeoutMs }, 'draining');
      // 1. Stop taking new work from queues (stream-ingest consumers): hooks run together, bounded
      //    by a quarter of the timeout so a hanging hook cannot eat the clients' drain window.
      await bounded(
        Promise.allSettled(onDrain.map((hook) => Promise.resolve().then(hook).catch((err: unknown) => log.warn({ err }, 'drain hook failed')))),
        config.shutdownTimeoutMs / 4,
      );
      // 2. Let HTTP requests already in progress (publishes accepted before the drain) finish.
      await bounded(router.requests.settled(), left() / 4);
      // Room messages held in a batching window go out before their members are closed.
      gw.roomParts.batcher?.stop();
      // 3. Close clients 1001 in waves, leaving a fifth of the remaining budget for the rest.
      const budget = left();
      await gw.closeAll(CloseCode.GoingAway, 'server shutting down', budget, Math.min(config.drainWindowMs, Math.floor(budget * 0.8)));
      log.info({ ms: Date.now() - t0 }, 'clients closed');
      gw.close();
      // The clients' disconnect/offline events are queued by now: send (memory) or hand over (Redis).
      if (webhooks) await bounded(webhooks.stop(left() / 2), Math.max(left() / 2, 100));
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      // 4. Flush the engine (pending cursor and inbox writes) and stop.
      await bounded(engine.close(), Math.max(left(), 100));
      metrics.stop();
      shedder.stop();
      compaction.stop();
      rebalancer?.stop();
      log.info({ ms: Date.now() - t0 }, 'herald stopped');
    })());

  return {
    port,
    url: `http://${shownHost}:${port}`,
    config,
    nodeId,
    dev,
    log,
    engine,
    gateway: gw,
    publisher,
    stats,
    metrics,
    events,
    ingest: ingestSources,
    hooks,
    webhooks,
    onDrain,
    get draining() {
      return draining;
    },
    close,
    live,
    reload: () => reloadAndLog(live, log, 'api'),
    shedder,
  };
}
