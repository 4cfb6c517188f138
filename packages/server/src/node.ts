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
import { rejectUpgrade, sendError } from './api/http.js';
import { SocketGuard } from './api/socketGuard.js';
import { AuthThrottle } from './auth/authThrottle.js';
import { ApiError } from './errors.js';
import { Limiter } from './limits/limiter.js';
import type { StreamIngest } from './ingest/streamIngest.js';
import { Webhooks } from './webhooks/webhooks.js';
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
}

export interface StartOptions {
  /** Use this logger instead of a new one. */
  logger?: Logger;
}

/**
 * Starts a node. `input` is either a validated config or raw values
 * (validated here with the same schema as files, env and flags).
 */
export async function startHerald(input: HeraldConfigInput = {}, opts: StartOptions = {}): Promise<HeraldNode> {
  const base = loadConfig({ overrides: input });
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
  const limiter = new Limiter(config, stats, engine.buckets);
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
      ...(ingest ? await ingest.stats().catch(() => ({})) : {}),
    }),
    isDraining: () => draining,
  });
  events.add(lifecycleStats(stats, metrics));
  const gw = new Gateway({ config, nodeId, engine, verifier, events, log, stats, metrics, limiter });
  holder.gw = gw;
  const hub = gw.hub;
  const publisher = new Publisher(
    engine,
    hub,
    stats,
    { maxMessageBytes: config.maxMessageBytes, idempotencyTtlMs: config.idempotencyTtlSec * 1000, idempotencyLeaseMs: config.idempotencyLeaseMs, notifyUnackedMaxSec: config.notifyUnackedMaxSec },
    limiter,
  );
  // Crashed nodes' connections end on the seam (disconnect 1006 "node lost", offline), once for the cluster.
  reportLostNodes(engine, events);
  const webhooks = await Webhooks.start({ config, nodeId, engine, events, registry: metrics.registry, log });
  publisher.watchUnacked = webhooks?.watchUnacked;

  await engine.start((ev) => hub.onBusEvent(ev), gw.registry);
  await engine.subscribe({ kind: 'all' });
  // Events published while the engine's transport was down were missed: re-read every inbox.
  engine.onResync?.(() => hub.resyncAll());

  // Stream ingest (Redis engine): entries of `herald:ingest` go through the same publish pipeline.
  let ingest: StreamIngest | undefined;
  if (config.engine === 'redis' && config.ingestEnabled) {
    const { StreamIngest } = await import('./ingest/streamIngest.js');
    ingest = new StreamIngest({
      url: config.redisUrl,
      keyPrefix: config.redisKeyPrefix,
      ...(config.ingestStream ? { stream: config.ingestStream } : {}),
      consumer: nodeId,
      logger: log.child({ component: 'ingest' }),
      claimIdleMs: config.ingestClaimIdleMs,
      maxDeliveries: config.ingestMaxDeliveries,
      // The entry id is the default idempotency key: an entry redelivered after a crash
      // between publish and XACK is not published twice.
      handler: async (body, entry) => {
        const keyed = body !== null && typeof body === 'object' && !Array.isArray(body) && !('idempotency_key' in body) ? { ...body, idempotency_key: `ingest:${entry.id}` } : body;
        await publisher.publishUnknown(keyed);
      },
    });
    await ingest.start();
  }

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
    admin,
    adminUsers,
    ...(dev ? { devToken: (user: string, device: string) => mintToken({ secret: config.jwtSecret, sub: user, device, ttlSec: 86_400 }) } : {}),
  });

  // HTTP requests in progress: a drain lets the ones started before it finish.
  const inflight = new Set<Promise<void>>();
  const server: Server = createServer(
    {
      // Slowloris guards: a client must finish its headers and its request in bounded time. Node checks
      // both only every connectionsCheckingInterval (30 s by default, which made a 10 s headersTimeout
      // up to 40 s): check often enough that a timeout is honoured within a tenth of it (or 1 s).
      headersTimeout: config.httpHeadersTimeoutMs,
      requestTimeout: config.httpRequestTimeoutMs,
      connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(config.httpHeadersTimeoutMs / 10))),
    },
    (req, res) => {
      // router.handle never rejects; the catch is the request's own last resort, so one request can never reach the process.
      const p = router.handle(req, res).catch((err: unknown) => {
        log.error({ err }, 'request handler failed');
        try {
          if (!res.headersSent) sendError(res, new ApiError('internal'));
          else res.destroy();
        } catch {
          res.destroy();
        }
      });
      inflight.add(p);
      void p.finally(() => inflight.delete(p));
    },
  );
  const socketGuard = new SocketGuard(config.maxHttpSocketsPerIp, config.trustedProxies, stats);
  socketGuard.attach(server);
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
  // First thing on drain: stop taking entries from the ingest stream; the one in flight finishes.
  if (ingest) {
    const running = ingest;
    onDrain.push(() => running.stop());
  }
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
      await bounded(Promise.allSettled([...inflight]), left() / 4);
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
    webhooks,
    onDrain,
    get draining() {
      return draining;
    },
    close,
  };
}
