/**
 * The HTTP API (DESIGN.md §1) on node:http: publish, batch, disconnect,
 * presence, health, readiness, metrics, and the demo. Every error is JSON
 * `{"error":{"code","message","field"?}}`.
 */
import { ILL_FORMED, isWellFormedId } from '../protocol/identifiers.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { CloseCode, DEFAULT_TENANT, DEVICE_ID_PATTERN } from '@herald/protocol';
import { ApiError } from '../errors.js';
import type { ApiKeyGuard } from '../auth/apiKey.js';
import type { AuthThrottle } from '../auth/authThrottle.js';
import type { Publisher, PublishResult } from '../delivery/publisher.js';
import type { Engine } from '../engine/types.js';
import type { DeliveryHub } from '../delivery/hub.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { Stats } from '../observability/stats.js';
import { PENDING_REQUEST_ID, readJson, readJsonTo, sendJson, sendJsonText } from './http.js';
import { Exchange, Requests } from './exchange.js';
import { literalPath, parseTarget, PLAIN_PATH, publishReply } from './routing.js';
import { serveDemoFile } from './staticFiles.js';
import { requestId } from '../observability/logger.js';
import { extractContext, inSpan, SpanKind, tracingActive } from '../observability/tracing.js';
import type { AdminHandler } from '../admin/admin.js';
import type { AdminUserActions } from '../admin/userActions.js';
import type { ConfigActions } from '../admin/configActions.js';
import { roomHistory, roomPresenceWithState, type RoomRoutesDeps } from './roomRoutes.js';
import type { SseEndpoint } from '../sse/sseEndpoint.js';

export interface RouterDeps {
  apiKey: ApiKeyGuard;
  publisher: Publisher;
  engine: Engine;
  hub: DeliveryHub;
  metrics: Metrics;
  stats: Stats;
  log: Logger;
  maxBodyBytes: number;
  /** Deepest array/object nesting of a request body (`maxJsonDepth`). */
  maxJsonDepth: number;
  /** Counts failed API-key checks per address and refuses guessers (429). */
  authThrottle: AuthThrottle;
  batchMaxMessages: number;
  isDraining(): boolean;
  /** Dev mode only: mints demo tokens. */
  devToken?: (user: string, device: string) => Promise<string>;
  /** The /admin dashboard; absent: /admin answers 404. */
  admin?: AdminHandler;
  /** The admin page's user lookup and actions (admin/userActions.ts). */
  adminUsers?: AdminUserActions;
  /** Ingest sources, listed by /readyz (docs/ingest.md); they do not decide readiness. */
  ingestSources?(): { kind: string; name: string; connected: boolean; lastError?: string }[];
  /** POST /admin/api/reload (admin/configActions.ts). */
  configActions?: ConfigActions;
  /** Extra /readyz detail (load shedding state); never changes readiness. */
  readyDetail?: () => Record<string, unknown>;
  /** Room history reads (absent: the history route answers 404). */
  roomHistory?: RoomRoutesDeps;
  /** The Server-Sent Events transport (GET /sse, POST /sse/ack); absent: 404. */
  sse?: SseEndpoint;
}

const disconnectSchema = z.strictObject({
  user: z.string().min(1).max(128).refine(isWellFormedId, ILL_FORMED),
  tenant: z.string().min(1).max(128).refine(isWellFormedId, ILL_FORMED).optional(),
  device: z.string().regex(DEVICE_ID_PATTERN).optional(),
  reason: z.string().max(100).optional(),
});

type Handler = (req: IncomingMessage, res: ServerResponse, params: string[], query: URLSearchParams) => Promise<void>;

interface Route {
  method: string;
  pattern: RegExp;
  name: string;
  auth: boolean;
  handler: Handler;
  /**
   * The handler answers only through sendJson/sendError, which write the request id in their one
   * writeHead; any other handler gets it by setHeader before it runs.
   */
  json?: true;
  /** The handler reads the query string (its 4th argument); the others get none built. */
  query?: boolean;
  /**
   * Without a tracing SDK: the route's handling that ends the request itself (`done`/`fail` on
   * its Exchange) instead of `handler`'s promise. Called with no params and no query.
   */
  exchange?: (x: Exchange) => void;
}

/** A route that matches a literal path, with its match (found once, at construction). */
interface ExactMatch {
  route: Route;
  m: RegExpExecArray;
}

const NO_PARAMS: string[] = [];

/** What a handler that does not read the query gets (it is never read, so one serves every request). */
const EMPTY_QUERY = new URLSearchParams();

export { parseTarget, publishReply };

export class Router {
  private readonly routes: Route[];
  /** Each literal route path → every route matching it, in order: no regex run for these paths. */
  private readonly exact = new Map<string, ExactMatch[]>();

  /** The requests in progress: the drain waits for them (node.ts). */
  readonly requests: Requests;

  constructor(private readonly d: RouterDeps) {
    this.requests = new Requests(d.stats, d.log);
    this.routes = [
      { method: 'POST', pattern: /^\/api\/v1\/publish$/, name: 'publish', auth: true, json: true, handler: (req, res) => this.publish(req, res), exchange: (x) => this.publishTo(x) },
      { method: 'POST', pattern: /^\/api\/v1\/publish\/batch$/, name: 'publish_batch', auth: true, json: true, handler: (req, res) => this.batch(req, res) },
      { method: 'POST', pattern: /^\/api\/v1\/disconnect$/, name: 'disconnect', auth: true, json: true, handler: (req, res) => this.disconnect(req, res) },
      { method: 'GET', pattern: /^\/api\/v1\/users\/([^/]+)\/presence$/, name: 'user_presence', auth: true, json: true, handler: (_q, res, p, q) => this.userPresence(res, p[0]!, q) },
      { method: 'GET', pattern: /^\/api\/v1\/rooms\/([^/]+)\/presence$/, name: 'room_presence', auth: true, json: true, handler: (_q, res, p, q) => this.roomPresence(res, p[0]!, q) },
      { method: 'GET', pattern: /^\/api\/v1\/rooms\/([^/]+)\/history$/, name: 'room_history', auth: true, handler: (_q, res, p, q) => this.roomHistory(res, p[0]!, q) },
      { method: 'GET', pattern: /^\/sse$/, name: 'sse', auth: false, handler: (req, res, _p, q) => this.sse().stream(req, res, q) },
      { method: 'POST', pattern: /^\/sse\/ack$/, name: 'sse_ack', auth: false, handler: (req, res) => this.sse().ack(req, res) },
      { method: 'POST', pattern: /^\/sse\/frame$/, name: 'sse_frame', auth: false, handler: (req, res) => this.sse().frame(req, res) },
      { method: 'OPTIONS', pattern: /^\/sse\/(ack|frame)$/, name: 'sse_preflight', auth: false, handler: (req, res) => this.sse().preflight(req, res) },
      { method: 'GET', pattern: /^\/healthz$/, name: 'healthz', auth: false, json: true, handler: async (_q, res) => sendJson(res, 200, { status: 'ok' }) },
      { method: 'GET', pattern: /^\/readyz$/, name: 'readyz', auth: false, json: true, handler: async (_q, res) => this.ready(res) },
      { method: 'GET', pattern: /^\/metrics$/, name: 'metrics', auth: false, handler: async (_q, res) => this.metrics(res) },
      { method: 'GET', pattern: /^\/demo\/token$/, name: 'demo_token', auth: false, json: true, handler: (_q, res, _p, q) => this.demoToken(res, q) },
      { method: 'GET', pattern: /^\/demo$/, name: 'demo', auth: false, handler: async (_q, res) => void res.writeHead(302, { location: '/demo/' }).end() },
      { method: 'GET', pattern: /^\/demo\/(.*)$/, name: 'demo', auth: false, handler: (_q, res, p) => this.demo(res, p[0]!) },
      { method: 'GET', pattern: /^\/admin$/, name: 'admin', auth: false, handler: async (_q, res) => void res.writeHead(302, { location: '/admin/' }).end() },
      { method: 'POST', pattern: /^\/admin\/login$/, name: 'admin_login', auth: false, handler: (req, res) => this.admin().login(req, res) },
      { method: 'POST', pattern: /^\/admin\/logout$/, name: 'admin_logout', auth: false, handler: (req, res) => this.admin().logout(req, res) },
      { method: 'GET', pattern: /^\/admin\/api\/stats$/, name: 'admin_stats', auth: false, handler: (req, res) => this.admin().statsFeed(req, res) },
      { method: 'GET', pattern: /^\/admin\/api\/csrf$/, name: 'admin_csrf', auth: false, handler: (req, res) => this.adminUsers().csrf(req, res) },
      { method: 'GET', pattern: /^\/admin\/api\/user$/, name: 'admin_user', auth: false, handler: (req, res, _p, q) => this.adminUsers().lookup(req, res, q) },
      { method: 'POST', pattern: /^\/admin\/api\/disconnect$/, name: 'admin_disconnect', auth: false, handler: (req, res) => this.adminUsers().disconnect(req, res) },
      { method: 'POST', pattern: /^\/admin\/api\/reload$/, name: 'admin_reload', auth: false, handler: (req, res) => this.configActions().reload(req, res) },
      { method: 'POST', pattern: /^\/admin\/api\/send$/, name: 'admin_send', auth: false, handler: (req, res) => this.adminUsers().send(req, res) },
      { method: 'GET', pattern: /^\/admin\/(.*)$/, name: 'admin', auth: false, handler: (req, res, p) => this.admin().page(req, res, p[0]!) },
      { method: 'GET', pattern: /^\/$/, name: 'root', auth: false, handler: async (_q, res) => void res.writeHead(302, { location: '/demo/' }).end() },
    ];
    for (const r of this.routes) {
      r.query = r.handler.length >= 4;
      const path = literalPath(r.pattern);
      if (path === undefined || this.exact.has(path)) continue;
      const matches: ExactMatch[] = [];
      for (const x of this.routes) {
        const m = x.pattern.exec(path);
        if (m) matches.push({ route: x, m });
      }
      this.exact.set(path, matches);
    }
  }

  private sse(): SseEndpoint {
    if (!this.d.sse) throw new ApiError('not_found', 'Server-Sent Events are not enabled');
    return this.d.sse;
  }

  private admin(): AdminHandler {
    if (!this.d.admin) throw new ApiError('not_found', 'the admin dashboard is not enabled');
    return this.d.admin;
  }

  private configActions(): ConfigActions {
    if (!this.d.configActions) throw new ApiError('not_found', 'configuration reload is not enabled');
    return this.d.configActions;
  }

  private adminUsers(): AdminUserActions {
    if (!this.d.adminUsers) throw new ApiError('not_found', 'the admin user actions are not enabled');
    return this.d.adminUsers;
  }

  /**
   * Answers one request. Never throws: anything a handler throws or rejects with becomes one JSON
   * error reply (500 for the unexpected), so no request can reach the process. The request is open
   * in `requests` (the drain's wait) until answered. Without a tracing SDK the publish route
   * answers from its body listener: no promise and no reaction per request (issue 20).
   */
  handle(req: IncomingMessage, res: ServerResponse): void {
    // Honour a sane incoming x-request-id, else make one; echoed back and in every log line of the
    // request. JSON answers (and every error) write it with their other headers (http.ts).
    const reqId = requestId(req.headers['x-request-id']);
    (res as ServerResponse & { [PENDING_REQUEST_ID]?: string })[PENDING_REQUEST_ID] = reqId;
    const x = this.requests.begin(req, res, reqId);
    try {
      // A request target like `//[` or `//x:99999/` is not a URL: 400, inside the try (it used to kill the process).
      const target = req.url;
      // A route's literal path (the API's own, as clients send them) picks its routes without a regex.
      const exact = target === undefined ? undefined : this.exact.get(target);
      const url = exact !== undefined || (target !== undefined && PLAIN_PATH.test(target)) ? undefined : parseTarget(target);
      const path = (x.path = url === undefined ? target! : url.pathname);
      let pathMatched = false;
      const count = exact !== undefined ? exact.length : this.routes.length;
      for (let i = 0; i < count; i++) {
        let r: Route;
        let m: RegExpExecArray | null;
        if (exact !== undefined) ({ route: r, m } = exact[i]!);
        else {
          r = this.routes[i]!;
          m = r.pattern.exec(path);
          if (!m) continue;
        }
        pathMatched = true;
        if (r.method !== req.method && !(r.method === 'GET' && req.method === 'HEAD')) continue;
        x.name = r.name;
        if (r.json !== true) {
          (res as ServerResponse & { [PENDING_REQUEST_ID]?: string })[PENDING_REQUEST_ID] = undefined;
          res.setHeader('x-request-id', reqId);
        }
        if (r.auth) {
          this.d.authThrottle.admit(req);
          if (!this.d.apiKey.check(req.headers.authorization)) {
            this.d.authThrottle.failed(req, 'api_key');
            throw new ApiError('unauthorized');
          }
        }
        // Without a tracing SDK the span, its attributes and the extracted context would all be no-ops.
        if (!tracingActive() && r.exchange !== undefined) return r.exchange(x);
        const params = m.length > 1 ? m.slice(1).map((s) => decodeURIComponent(s)) : NO_PARAMS;
        const query = url !== undefined ? url.searchParams : r.query === true ? new URLSearchParams() : EMPTY_QUERY;
        const route = r;
        const running = !tracingActive()
          ? route.handler(req, res, params, query)
          : inSpan(
              `herald.http ${route.name}`,
              { 'http.request.method': req.method ?? '', 'http.route': route.name, 'herald.request_id': reqId },
              async (span) => {
                await route.handler(req, res, params, query);
                if (span.isRecording()) span.setAttribute('http.response.status_code', res.statusCode);
              },
              SpanKind.SERVER,
              extractContext(req.headers),
            );
        running.then(
          () => x.done(),
          (err: unknown) => x.fail(err),
        );
        return;
      }
      throw new ApiError(pathMatched ? 'method_not_allowed' : 'not_found', pathMatched ? `${req.method} is not allowed on ${path}` : `no route for ${req.method} ${path}`);
    } catch (err) {
      x.fail(err);
    }
  }

  private internal(err: unknown, reqId?: string): ApiError {
    return this.requests.internal(err, reqId);
  }

  /**
   * The publish, without a tracing SDK: the body's listener parses it, publishes and answers
   * (`publishBody`), with no promise per request when the publish finished synchronously (issue 20).
   */
  private publishTo(x: Exchange): void {
    if (this.d.isDraining()) throw new ApiError('draining');
    x.onBody = this.publishBody;
    readJsonTo(x.req, this.d.maxBodyBytes, this.d.maxJsonDepth, x);
  }

  /** The publish's body, parsed: published, and answered where the publish finished (one function per router, not per request). */
  private readonly publishBody = (x: Exchange, body: unknown): void => {
    const r = this.d.publisher.publishUnknownNow(body, '', true);
    if (r instanceof Promise)
      r.then(
        (result) => x.json(publishReply(result)),
        (err: unknown) => x.fail(err),
      );
    else x.json(publishReply(r));
  };

  /**
   * The publish with a tracing SDK: it runs in a `.then` of the body promise, in the herald.http
   * span's context (the body's 'end' listener runs in the socket's: its spans would be orphans).
   */
  private publish(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.d.isDraining()) return Promise.reject(new ApiError('draining'));
    return readJson(req, this.d.maxBodyBytes, this.d.maxJsonDepth).then((body) => {
      const r = this.d.publisher.publishUnknownNow(body, '', true);
      if (r instanceof Promise) return r.then((result) => sendJsonText(res, 200, publishReply(result)));
      sendJsonText(res, 200, publishReply(r));
      return undefined;
    });
  }

  private async batch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.d.isDraining()) throw new ApiError('draining');
    const body = (await readJson(req, this.d.maxBodyBytes, this.d.maxJsonDepth)) as { messages?: unknown };
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new ApiError('invalid_field', 'body must be {"messages":[...]}', 'messages');
    const extra = Object.keys(body).find((k) => k !== 'messages');
    if (extra !== undefined) throw new ApiError('invalid_field', `unknown field "${extra}"`, extra);
    const items = body.messages;
    if (!Array.isArray(items) || items.length === 0) throw new ApiError('invalid_field', 'messages: a non-empty array is required', 'messages');
    if (items.length > this.d.batchMaxMessages) throw new ApiError('invalid_field', `messages: at most ${this.d.batchMaxMessages} per batch`, 'messages');
    // Items run in order: a batch to one user keeps its order in the inbox.
    const results: (PublishResult & { ok: true } | { ok: false; error: ReturnType<ApiError['toJSON']>['error'] })[] = [];
    for (let i = 0; i < items.length; i++) {
      try {
        results.push({ ok: true, ...(await this.d.publisher.publishUnknown(items[i], `messages.${i}.`, true)) });
      } catch (err) {
        const e = err instanceof ApiError ? err : this.internal(err);
        results.push({ ok: false, error: e.toJSON().error });
      }
    }
    sendJson(res, 200, { results });
  }

  private async disconnect(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const r = disconnectSchema.safeParse(await readJson(req, this.d.maxBodyBytes, this.d.maxJsonDepth));
    if (!r.success) {
      const issue = r.error.issues[0]!;
      const field = issue.code === 'unrecognized_keys' ? issue.keys[0]! : issue.path.join('.') || 'body';
      throw new ApiError('invalid_field', `${field}: ${issue.message}`, field);
    }
    const { user, device } = r.data;
    const tenant = r.data.tenant ?? DEFAULT_TENANT;
    const reason = r.data.reason ?? 'disconnected by the server';
    const local = await this.d.hub.disconnect(tenant, user, device, CloseCode.ServerDisconnect, reason);
    sendJson(res, 200, { ok: true, disconnected_local: local });
  }

  private async userPresence(res: ServerResponse, user: string, q: URLSearchParams): Promise<void> {
    const tenant = q.get('tenant') || DEFAULT_TENANT;
    const devices = await this.d.engine.userPresence(tenant, user);
    sendJson(res, 200, {
      user,
      tenant,
      online: devices.length > 0,
      devices: devices.map((d) => ({ device: d.device, platform: d.platform, node: d.node, conn: d.conn, since: new Date(d.since).toISOString() })),
    });
  }

  private async roomPresence(res: ServerResponse, room: string, q: URLSearchParams): Promise<void> {
    sendJson(res, 200, await roomPresenceWithState(this.d.engine, room, q));
  }

  private async roomHistory(res: ServerResponse, room: string, q: URLSearchParams): Promise<void> {
    if (!this.d.roomHistory) throw new ApiError('not_found', 'no room history on this node');
    await roomHistory(this.d.roomHistory, res, room, q);
  }

  private ready(res: ServerResponse): void {
    const engine = this.d.engine.isReady();
    const draining = this.d.isDraining();
    // A disconnected ingest source is shown but does not make the node unready: its broker keeps the
    // entries until it is back, and the node still serves WebSockets and the HTTP API (docs/ingest.md).
    const ingest = this.d.ingestSources?.().map(({ kind, name, connected, lastError }) => ({ kind, name, connected, ...(lastError !== undefined ? { error: lastError } : {}) }));
    sendJson(res, engine && !draining ? 200 : 503, { ready: engine && !draining, engine: engine ? 'up' : 'down', draining, ...(ingest?.length ? { ingest } : {}), ...this.d.readyDetail?.() });
  }

  private async metrics(res: ServerResponse): Promise<void> {
    const { contentType, body } = await this.d.metrics.render();
    res.writeHead(200, { 'content-type': contentType });
    res.end(body);
  }

  private async demoToken(res: ServerResponse, q: URLSearchParams): Promise<void> {
    if (!this.d.devToken) throw new ApiError('not_found', 'demo tokens are served in dev mode only (no HERALD_JWT_SECRET)');
    const user = q.get('user') ?? '';
    const device = q.get('device') || 'web';
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(user)) throw new ApiError('invalid_field', 'user: 1-64 of [A-Za-z0-9._-]', 'user');
    if (!DEVICE_ID_PATTERN.test(device)) throw new ApiError('invalid_field', 'device: 1-64 of [A-Za-z0-9._:-]', 'device');
    sendJson(res, 200, { token: await this.d.devToken(user, device) });
  }

  private async demo(res: ServerResponse, rest: string): Promise<void> {
    if (!(await serveDemoFile(rest, res))) throw new ApiError('not_found', `no demo file ${rest}`);
  }
}
