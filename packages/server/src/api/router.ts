/**
 * The HTTP API (DESIGN.md §1) on node:http: publish, batch, disconnect,
 * presence, health, readiness, metrics, and the demo. Every error is JSON
 * `{"error":{"code","message","field"?}}`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { CloseCode, DEFAULT_TENANT, DEVICE_ID_PATTERN } from '@herald/protocol';
import { HeraldError } from '../errors.js';
import type { ApiKeyGuard } from '../auth/apiKey.js';
import type { Publisher, PublishResult } from '../delivery/publisher.js';
import type { Engine } from '../engine/types.js';
import type { Gateway } from '../gateway/gateway.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { Stats } from '../observability/stats.js';
import { readJson, sendError, sendJson } from './http.js';
import { serveDemoFile } from './staticFiles.js';
import { requestId } from '../observability/logger.js';
import { extractContext, inSpan, SpanKind } from '../observability/tracing.js';
import type { AdminHandler } from '../admin/admin.js';

export interface RouterDeps {
  apiKey: ApiKeyGuard;
  publisher: Publisher;
  engine: Engine;
  gateway: Gateway;
  metrics: Metrics;
  stats: Stats;
  log: Logger;
  maxBodyBytes: number;
  batchMaxMessages: number;
  isDraining(): boolean;
  /** Dev mode only: mints demo tokens. */
  devToken?: (user: string, device: string) => Promise<string>;
  /** The /admin dashboard; absent: /admin answers 404. */
  admin?: AdminHandler;
  /** Ingest sources, listed by /readyz (docs/ingest.md); they do not decide readiness. */
  ingestSources?(): { kind: string; name: string; connected: boolean; lastError?: string }[];
}

const disconnectSchema = z.strictObject({
  user: z.string().min(1).max(128),
  tenant: z.string().min(1).max(128).optional(),
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
}

export class Router {
  private readonly routes: Route[];

  constructor(private readonly d: RouterDeps) {
    this.routes = [
      { method: 'POST', pattern: /^\/api\/v1\/publish$/, name: 'publish', auth: true, handler: (req, res) => this.publish(req, res) },
      { method: 'POST', pattern: /^\/api\/v1\/publish\/batch$/, name: 'publish_batch', auth: true, handler: (req, res) => this.batch(req, res) },
      { method: 'POST', pattern: /^\/api\/v1\/disconnect$/, name: 'disconnect', auth: true, handler: (req, res) => this.disconnect(req, res) },
      { method: 'GET', pattern: /^\/api\/v1\/users\/([^/]+)\/presence$/, name: 'user_presence', auth: true, handler: (_q, res, p, q) => this.userPresence(res, p[0]!, q) },
      { method: 'GET', pattern: /^\/api\/v1\/rooms\/([^/]+)\/presence$/, name: 'room_presence', auth: true, handler: (_q, res, p, q) => this.roomPresence(res, p[0]!, q) },
      { method: 'GET', pattern: /^\/healthz$/, name: 'healthz', auth: false, handler: async (_q, res) => sendJson(res, 200, { status: 'ok' }) },
      { method: 'GET', pattern: /^\/readyz$/, name: 'readyz', auth: false, handler: async (_q, res) => this.ready(res) },
      { method: 'GET', pattern: /^\/metrics$/, name: 'metrics', auth: false, handler: async (_q, res) => this.metrics(res) },
      { method: 'GET', pattern: /^\/demo\/token$/, name: 'demo_token', auth: false, handler: (_q, res, _p, q) => this.demoToken(res, q) },
      { method: 'GET', pattern: /^\/demo$/, name: 'demo', auth: false, handler: async (_q, res) => void res.writeHead(302, { location: '/demo/' }).end() },
      { method: 'GET', pattern: /^\/demo\/(.*)$/, name: 'demo', auth: false, handler: (_q, res, p) => this.demo(res, p[0]!) },
      { method: 'GET', pattern: /^\/admin$/, name: 'admin', auth: false, handler: async (_q, res) => void res.writeHead(302, { location: '/admin/' }).end() },
      { method: 'POST', pattern: /^\/admin\/login$/, name: 'admin_login', auth: false, handler: (req, res) => this.admin().login(req, res) },
      { method: 'POST', pattern: /^\/admin\/logout$/, name: 'admin_logout', auth: false, handler: (req, res) => this.admin().logout(req, res) },
      { method: 'GET', pattern: /^\/admin\/api\/stats$/, name: 'admin_stats', auth: false, handler: (req, res) => this.admin().statsFeed(req, res) },
      { method: 'GET', pattern: /^\/admin\/(.*)$/, name: 'admin', auth: false, handler: (req, res, p) => this.admin().page(req, res, p[0]!) },
      { method: 'GET', pattern: /^\/$/, name: 'root', auth: false, handler: async (_q, res) => void res.writeHead(302, { location: '/demo/' }).end() },
    ];
  }

  private admin(): AdminHandler {
    if (!this.d.admin) throw new HeraldError('not_found', 'the admin dashboard is not enabled');
    return this.d.admin;
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    // Honour a sane incoming x-request-id, else make one; echoed back and in every log line of the request.
    const reqId = requestId(req.headers['x-request-id']);
    res.setHeader('x-request-id', reqId);
    const started = performance.now();
    let name = 'unknown';
    try {
      let pathMatched = false;
      for (const r of this.routes) {
        const m = r.pattern.exec(url.pathname);
        if (!m) continue;
        pathMatched = true;
        if (r.method !== req.method && !(r.method === 'GET' && req.method === 'HEAD')) continue;
        name = r.name;
        if (r.auth && !this.d.apiKey.check(req.headers.authorization)) throw new HeraldError('unauthorized');
        const params = m.slice(1).map((s) => decodeURIComponent(s));
        await inSpan(
          `herald.http ${r.name}`,
          { 'http.request.method': req.method ?? '', 'http.route': r.name, 'herald.request_id': reqId },
          async (span) => {
            await r.handler(req, res, params, url.searchParams);
            if (span.isRecording()) span.setAttribute('http.response.status_code', res.statusCode);
          },
          SpanKind.SERVER,
          extractContext(req.headers),
        );
        return;
      }
      throw new HeraldError(pathMatched ? 'method_not_allowed' : 'not_found', pathMatched ? `${req.method} is not allowed on ${url.pathname}` : `no route for ${req.method} ${url.pathname}`);
    } catch (err) {
      const e = err instanceof HeraldError ? err : this.internal(err, reqId);
      if (!res.headersSent) sendError(res, e);
      else res.destroy();
    } finally {
      this.d.stats.bump(this.d.stats.http, `${name}|${res.statusCode}`);
      // Path only: a query string may hold a token. Bodies are never logged.
      const line = { req: reqId, method: req.method, path: url.pathname, route: name, status: res.statusCode, ms: Math.round((performance.now() - started) * 10) / 10 };
      if (res.statusCode >= 500) this.d.log.error(line, 'request');
      else if (res.statusCode >= 400) this.d.log.info(line, 'request');
      else this.d.log.debug(line, 'request');
    }
  }

  private internal(err: unknown, reqId?: string): HeraldError {
    if (err instanceof URIError) return new HeraldError('invalid_field', 'path is not valid percent-encoding', 'path');
    this.d.log.error({ err, req: reqId }, 'request failed');
    return new HeraldError('internal');
  }

  private async publish(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.d.isDraining()) throw new HeraldError('draining');
    const body = await readJson(req, this.d.maxBodyBytes);
    sendJson(res, 200, await this.d.publisher.publishUnknown(body, '', true));
  }

  private async batch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.d.isDraining()) throw new HeraldError('draining');
    const body = (await readJson(req, this.d.maxBodyBytes)) as { messages?: unknown };
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new HeraldError('invalid_field', 'body must be {"messages":[...]}', 'messages');
    const extra = Object.keys(body).find((k) => k !== 'messages');
    if (extra !== undefined) throw new HeraldError('invalid_field', `unknown field "${extra}"`, extra);
    const items = body.messages;
    if (!Array.isArray(items) || items.length === 0) throw new HeraldError('invalid_field', 'messages: a non-empty array is required', 'messages');
    if (items.length > this.d.batchMaxMessages) throw new HeraldError('invalid_field', `messages: at most ${this.d.batchMaxMessages} per batch`, 'messages');
    // Items run in order: a batch to one user keeps its order in the inbox.
    const results: (PublishResult & { ok: true } | { ok: false; error: ReturnType<HeraldError['toJSON']>['error'] })[] = [];
    for (let i = 0; i < items.length; i++) {
      try {
        results.push({ ok: true, ...(await this.d.publisher.publishUnknown(items[i], `messages.${i}.`, true)) });
      } catch (err) {
        const e = err instanceof HeraldError ? err : this.internal(err);
        results.push({ ok: false, error: e.toJSON().error });
      }
    }
    sendJson(res, 200, { results });
  }

  private async disconnect(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const r = disconnectSchema.safeParse(await readJson(req, this.d.maxBodyBytes));
    if (!r.success) {
      const issue = r.error.issues[0]!;
      const field = issue.code === 'unrecognized_keys' ? issue.keys[0]! : issue.path.join('.') || 'body';
      throw new HeraldError('invalid_field', `${field}: ${issue.message}`, field);
    }
    const { user, device } = r.data;
    const tenant = r.data.tenant ?? DEFAULT_TENANT;
    const reason = r.data.reason ?? 'disconnected by the server';
    const local = this.d.gateway.disconnectLocal(tenant, user, device, CloseCode.ServerDisconnect, reason);
    await this.d.engine.publish({ kind: 'disconnect', tenant, user, ...(device !== undefined ? { device } : {}), code: CloseCode.ServerDisconnect, reason });
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
    const tenant = q.get('tenant') || DEFAULT_TENANT;
    const members = await this.d.engine.roomPresence(tenant, room);
    sendJson(res, 200, { room, tenant, count: members.length, members });
  }

  private ready(res: ServerResponse): void {
    const engine = this.d.engine.isReady();
    const draining = this.d.isDraining();
    // A disconnected ingest source is shown but does not make the node unready: its broker keeps the
    // entries until it is back, and the node still serves WebSockets and the HTTP API (docs/ingest.md).
    const ingest = this.d.ingestSources?.().map(({ kind, name, connected, lastError }) => ({ kind, name, connected, ...(lastError !== undefined ? { error: lastError } : {}) }));
    sendJson(res, engine && !draining ? 200 : 503, { ready: engine && !draining, engine: engine ? 'up' : 'down', draining, ...(ingest?.length ? { ingest } : {}) });
  }

  private async metrics(res: ServerResponse): Promise<void> {
    const { contentType, body } = await this.d.metrics.render();
    res.writeHead(200, { 'content-type': contentType });
    res.end(body);
  }

  private async demoToken(res: ServerResponse, q: URLSearchParams): Promise<void> {
    if (!this.d.devToken) throw new HeraldError('not_found', 'demo tokens are served in dev mode only (no HERALD_JWT_SECRET)');
    const user = q.get('user') ?? '';
    const device = q.get('device') || 'web';
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(user)) throw new HeraldError('invalid_field', 'user: 1-64 of [A-Za-z0-9._-]', 'user');
    if (!DEVICE_ID_PATTERN.test(device)) throw new HeraldError('invalid_field', 'device: 1-64 of [A-Za-z0-9._:-]', 'device');
    sendJson(res, 200, { token: await this.d.devToken(user, device) });
  }

  private async demo(res: ServerResponse, rest: string): Promise<void> {
    if (!(await serveDemoFile(rest, res))) throw new HeraldError('not_found', `no demo file ${rest}`);
  }
}
