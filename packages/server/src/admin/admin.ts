/**
 * The admin dashboard: /admin (page), /admin/login, /admin/logout and the JSON
 * feed /admin/api/stats the page polls. Protected by the API key: a login form
 * exchanges it for a session cookie (see session.ts); scripts may call the
 * JSON feed with `Authorization: Bearer <key>` instead.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { extname, join, normalize, posix, sep } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { ApiKeyGuard } from '../auth/apiKey.js';
import type { AuthThrottle } from '../auth/authThrottle.js';
import type { Engine, NodeSummary } from '../engine/types.js';
import type { Registry } from '../delivery/registry.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { Stats } from '../observability/stats.js';
import { ApiError } from '../errors.js';
import { sendJson } from '../api/http.js';
import { AdminSessions, SESSION_COOKIE, readCookie } from './session.js';

const STATIC_DIR = fileURLToPath(new URL('../../static/admin/', import.meta.url));
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};
/** No inline script or style, no framing, no third parties. */
const PAGE_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};
const MAX_FORM_BYTES = 4096;

export interface AdminDeps {
  apiKey: string;
  guard: ApiKeyGuard;
  /** Failed key checks per client address (login form, bearer on the feed): 429 over budget. */
  authThrottle: AuthThrottle;
  sessionTtlSec: number;
  nodeId: string;
  engine: Engine;
  registry: Registry;
  metrics: Metrics;
  stats: Stats;
  log: Logger;
  isDraining(): boolean;
  startedAt: number;
  /** Ingest sources with their counters, for the dashboard's sources table. */
  ingestSources?(): object[];
  /** Load shedding, reloads and balancing state for the page (issue 21). */
  protection?: () => Record<string, unknown>;
  /** Webhook outbox depth and last delivery error, when webhooks are on. */
  webhooks?: () => Record<string, unknown> | undefined;
}


interface HistogramView {
  /** [upper bound in seconds (null for +Inf), cumulative count] */
  buckets: [number | null, number][];
  count: number;
  sum: number;
}

function isSecure(req: IncomingMessage): boolean {
  return (req.socket as TLSSocket).encrypted === true || String(req.headers['x-forwarded-proto'] ?? '').split(',')[0]!.trim() === 'https';
}

export class AdminHandler {
  private readonly sessions: AdminSessions;

  constructor(private readonly d: AdminDeps) {
    this.sessions = new AdminSessions(d.apiKey, d.sessionTtlSec);
  }

  /**
   * True for a valid session cookie or a valid bearer key. A bearer key is a
   * guess until proven: a wrong one counts against the address's budget and an
   * address over it is refused (429) before its key is looked at.
   */
  authorized(req: IncomingMessage): boolean {
    if (this.sessions.verify(readCookie(req.headers.cookie, SESSION_COOKIE))) return true;
    if (req.headers.authorization === undefined) return false;
    this.d.authThrottle.admit(req);
    if (this.d.guard.check(req.headers.authorization)) return true;
    this.d.authThrottle.failed(req, 'admin_api');
    return false;
  }

  /** GET /admin/<rest>: the dashboard (session required), the login page, or an asset. */
  async page(req: IncomingMessage, res: ServerResponse, rest: string): Promise<void> {
    // Authorise the file that would be served, not the spelling of the path: `.%2findex.html`,
    // `%2e/index.html`, `x/..%2findex.html` and `/index.html` all name the dashboard.
    const name = adminFileName(rest);
    if (name === 'index.html') {
      if (!this.authorized(req)) {
        res.writeHead(303, { location: '/admin/login', 'cache-control': 'no-store' }).end();
        return;
      }
      return this.file(res, 'index.html');
    }
    if (name === 'login') return this.file(res, 'login.html');
    return this.file(res, name);
  }

  /** POST /admin/login (form field `key`): sets the session cookie. */
  async login(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.sameOrigin(req);
    // Over the failure budget: 429 with Retry-After before the key is looked at (no oracle for a guesser).
    this.d.authThrottle.admit(req);
    const form = await readForm(req);
    const key = form.get('key') ?? '';
    if (!this.d.guard.check(`Bearer ${key}`)) {
      this.d.authThrottle.failed(req, 'admin_login');
      this.d.log.warn({ remote: req.socket.remoteAddress }, 'admin login refused');
      res.writeHead(303, { location: '/admin/login?failed=1', 'cache-control': 'no-store' }).end();
      return;
    }
    const secure = isSecure(req);
    res.writeHead(303, { location: '/admin/', 'set-cookie': this.sessions.cookie(this.sessions.issue(), secure), 'cache-control': 'no-store' }).end();
  }

  /** POST /admin/logout: clears the cookie. */
  async logout(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.sameOrigin(req);
    res.writeHead(303, { location: '/admin/login', 'set-cookie': AdminSessions.clearCookie(isSecure(req)), 'cache-control': 'no-store' }).end();
  }

  /** GET /admin/api/stats: the dashboard's data. */
  async statsFeed(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!this.authorized(req)) throw new ApiError('unauthorized', 'log in at /admin/login or send Authorization: Bearer <API key>');
    sendJson(res, 200, await this.snapshot());
  }

  /** Everything the dashboard shows; cumulative counters (the page computes rates). */
  async snapshot(): Promise<Record<string, unknown>> {
    const { registry: reg, stats: s, metrics, engine, nodeId } = this.d;
    const now = Date.now();
    const local: NodeSummary = { node: nodeId, connections: reg.size, rooms: reg.roomCount, users: reg.userCount, updatedAt: now };
    let nodes: NodeSummary[] = [local];
    const listNodes = engine.introspection?.nodes;
    if (listNodes !== undefined) {
      try {
        const listed = await listNodes();
        // The local row is always current; other rows come from the engine.
        nodes = [local, ...listed.filter((n) => n.node !== nodeId)];
      } catch (err) {
        this.d.log.warn({ err }, 'engine.nodes() failed; showing the local node only');
      }
    }
    nodes.sort((a, b) => a.node.localeCompare(b.node));
    const sum = (k: 'connections' | 'rooms' | 'users'): number => nodes.reduce((a, n) => a + n[k], 0);
    const engineStats = await metrics.refreshEngineStats();
    const mapObj = <K>(m: Map<K, number>): Record<string, number> => Object.fromEntries([...m].map(([k, v]) => [String(k), v]));
    let published = 0;
    for (const n of s.published.values()) published += n;
    let disconnects = 0;
    for (const n of s.disconnects.values()) disconnects += n;
    let limitRejections = 0;
    for (const n of s.limitRejections.values()) limitRejections += n;
    const mem = process.memoryUsage();
    const lag = metrics.loopLag.snapshot();
    return {
      node: nodeId,
      engine: engine.kind,
      engineUp: engine.isReady(),
      draining: this.d.isDraining(),
      time: now,
      uptimeSec: Math.round((now - this.d.startedAt) / 1000),
      totals: { connections: sum('connections'), users: sum('users'), rooms: sum('rooms'), nodes: nodes.length },
      local: { connections: reg.size, users: reg.userCount, rooms: reg.roomCount, platforms: { ...reg.platforms } },
      counters: {
        connects: s.connects,
        disconnects,
        published,
        delivered: s.deliveredReliable + s.deliveredEphemeral,
        deliveredReliable: s.deliveredReliable,
        deliveredEphemeral: s.deliveredEphemeral,
        acked: s.acked,
        retried: s.retried,
        expired: s.expired + (engineStats?.expired ?? 0),
        replayed: s.replayed,
        limitRejections,
      },
      disconnectsByCode: mapObj(s.disconnects),
      limitRejections: mapObj(s.limitRejections),
      latency: { deliver: await histogram(metrics.deliverLatency), ack: await histogram(metrics.ackLatency) },
      eventLoopLagMs: { mean: lag.mean * 1000, p99: lag.p99 * 1000, max: lag.max * 1000 },
      memory: { rssBytes: mem.rss, heapUsedBytes: mem.heapUsed },
      engineStats: engineStats ?? null,
      webhooks: this.d.webhooks?.() ?? null,
      nodes,
      ingest: this.d.ingestSources?.() ?? [],
      protection: this.d.protection?.() ?? null,
    };
  }

  private sameOrigin(req: IncomingMessage): void {
    const origin = req.headers.origin;
    if (origin === undefined || origin === 'null') return;
    let host: string;
    try {
      host = new URL(origin).host;
    } catch {
      host = '';
    }
    if (host !== req.headers.host) throw new ApiError('unauthorized', 'cross-origin admin form post refused');
  }

  private async file(res: ServerResponse, rel: string): Promise<void> {
    const path = normalize(join(STATIC_DIR, rel));
    if (!path.startsWith(STATIC_DIR.endsWith(sep) ? STATIC_DIR : STATIC_DIR + sep)) throw new ApiError('not_found', 'no such admin file');
    let body: Buffer;
    try {
      body = await readFile(path);
    } catch {
      throw new ApiError('not_found', `no admin file ${rel}`);
    }
    res.writeHead(200, { 'content-type': TYPES[extname(path)] ?? 'application/octet-stream', 'content-length': body.length, ...PAGE_HEADERS });
    res.end(body);
  }
}

/**
 * The static file a decoded `/admin/<rest>` names, relative to the admin
 * directory: backslashes as slashes, `.`/`..` and repeated slashes resolved
 * (never above the directory), a trailing slash or nothing meaning the index.
 */
export function adminFileName(rest: string): string {
  const resolved = posix.normalize('/' + rest.replaceAll('\\', '/')).replace(/^\/+/, '');
  return resolved === '' || resolved.endsWith('/') ? resolved + 'index.html' : resolved;
}

async function histogram(h: Metrics['deliverLatency']): Promise<HistogramView> {
  const v = await h.get();
  const out: HistogramView = { buckets: [], count: 0, sum: 0 };
  for (const x of v.values) {
    const name = x.metricName ?? '';
    if (name.endsWith('_bucket')) {
      const le = x.labels.le;
      out.buckets.push([le === '+Inf' || le === undefined ? null : Number(le), x.value]);
    } else if (name.endsWith('_count')) out.count = x.value;
    else if (name.endsWith('_sum')) out.sum = x.value;
  }
  return out;
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const type = req.headers['content-type'] ?? '';
  if (!/^application\/x-www-form-urlencoded\b/i.test(type)) throw new ApiError('unsupported_media_type', 'the login form posts application/x-www-form-urlencoded');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_FORM_BYTES) throw new ApiError('payload_too_large', `login form over ${MAX_FORM_BYTES} bytes`);
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}
