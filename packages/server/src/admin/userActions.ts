/**
 * The admin page's user lookup and actions, behind the admin login:
 *
 *   GET  /admin/api/csrf                     the page's CSRF token (session only)
 *   GET  /admin/api/user?tenant=&user=       devices (platform, node, since, cursor,
 *                                            unacked) and inbox depth
 *   POST /admin/api/disconnect               {tenant?, user, device?} → close 4011
 *   POST /admin/api/send                     {tenant?, user, device?, data, event?} → a
 *                                            reliable message through the normal publish path
 *
 * CSRF: the session cookie is SameSite=Strict already; the actions also need
 * `X-Herald-CSRF: <token>`, where token = HMAC-SHA256(HMAC-SHA256(API key,
 * "herald-admin-csrf"), session cookie value). A cross-site page can neither
 * read it (no CORS) nor compute it (no key); it changes with every session and
 * needs no server state, so it holds on every node. A request whose `Origin` is
 * not this host, or whose `Sec-Fetch-Site` says cross-site, is refused too.
 * Scripts using `Authorization: Bearer <API key>` need no token: a browser never
 * attaches that header on its own.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { CloseCode, DEFAULT_TENANT, DEVICE_ID_PATTERN } from '@herald/protocol';
import type { ApiKeyGuard } from '../auth/apiKey.js';
import type { Publisher } from '../delivery/publisher.js';
import type { Engine, InboxInspection } from '../engine/types.js';
import type { DeliveryHub } from '../delivery/hub.js';
import type { Logger } from '../observability/logger.js';
import { ApiError } from '../errors.js';
import { readJson, sendJson } from '../api/http.js';
import { SESSION_COOKIE, readCookie } from './session.js';

export const CSRF_HEADER = 'x-herald-csrf';

export interface AdminUserDeps {
  apiKey: string;
  guard: ApiKeyGuard;
  /** True for a valid session cookie or bearer key (AdminHandler.authorized). */
  authorized(req: IncomingMessage): boolean;
  engine: Engine;
  hub: DeliveryHub;
  publisher: Publisher;
  log: Logger;
  maxBodyBytes: number;
  /** adminInspectMaxMessages: the inbox walk's bound per lookup. */
  inspectMaxMessages: number;
}

const id = z.string().min(1).max(128);
const disconnectSchema = z.strictObject({ tenant: id.optional(), user: id, device: z.string().regex(DEVICE_ID_PATTERN).optional() });
const sendSchema = z.strictObject({
  tenant: id.optional(),
  user: id,
  device: z.string().regex(DEVICE_ID_PATTERN).optional(),
  event: z.string().min(1).max(64).optional(),
  data: z.unknown().refine((v) => v !== undefined, 'data is required'),
});

export class AdminUserActions {
  private readonly csrfKey: Buffer;

  constructor(private readonly d: AdminUserDeps) {
    this.csrfKey = createHmac('sha256', d.apiKey).update('herald-admin-csrf').digest();
  }

  /** The CSRF token of a session cookie value. */
  csrfFor(session: string): string {
    return createHmac('sha256', this.csrfKey).update(session).digest('base64url');
  }

  /** GET /admin/api/csrf: the token the page sends back on every action. */
  async csrf(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const session = readCookie(req.headers.cookie, SESSION_COOKIE);
    if (session === undefined || !this.d.authorized(req)) throw new ApiError('unauthorized', 'log in at /admin/login');
    sendJson(res, 200, { header: CSRF_HEADER, token: this.csrfFor(session) }, { 'cache-control': 'no-store' });
  }

  /** GET /admin/api/user?tenant=&user=: who is online and what waits for them. */
  async lookup(req: IncomingMessage, res: ServerResponse, q: URLSearchParams): Promise<void> {
    if (!this.d.authorized(req)) throw new ApiError('unauthorized', 'log in at /admin/login or send Authorization: Bearer <API key>');
    const user = q.get('user') ?? '';
    const tenant = q.get('tenant') || DEFAULT_TENANT;
    if (!id.safeParse(user).success) throw new ApiError('invalid_field', 'user: 1–128 characters', 'user');
    if (!id.safeParse(tenant).success) throw new ApiError('invalid_field', 'tenant: 1–128 characters', 'tenant');
    const online = await this.d.engine.userPresence(tenant, user);
    const names = [...new Set(online.map((p) => p.device))];
    const inspect = this.d.engine.introspection?.inspectInbox;
    const inbox: InboxInspection | null = inspect ? await inspect(tenant, user, names, this.d.inspectMaxMessages) : null;
    const perDevice = new Map(inbox?.devices.map((x) => [x.device, x]));
    sendJson(
      res,
      200,
      {
        tenant,
        user,
        online: online.length > 0,
        inbox: inbox ? { depth: inbox.depth, tip: inbox.tip, floor: inbox.floor, truncated: inbox.truncated } : null,
        devices: online
          .map((p) => ({
            device: p.device,
            platform: p.platform,
            node: p.node,
            conn: p.conn,
            since: new Date(p.since).toISOString(),
            cursor: perDevice.get(p.device)?.cursor ?? null,
            unacked: perDevice.get(p.device)?.unacked ?? null,
          }))
          .sort((a, b) => a.device.localeCompare(b.device)),
      },
      { 'cache-control': 'no-store' },
    );
  }

  /** POST /admin/api/disconnect: closes the user's (or one device's) connections with 4011, on every node. */
  async disconnect(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.checkAction(req);
    const body = parse(disconnectSchema, await readJson(req, this.d.maxBodyBytes));
    const tenant = body.tenant ?? DEFAULT_TENANT;
    const reason = 'disconnected by an administrator';
    const local = await this.d.hub.disconnect(tenant, body.user, body.device, CloseCode.ServerDisconnect, reason);
    this.d.log.info({ tenant, user: body.user, device: body.device, local }, 'admin disconnect');
    sendJson(res, 200, { ok: true, disconnected_local: local });
  }

  /** POST /admin/api/send: a reliable test message to the user (or one device), as the publish API would send it. */
  async send(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.checkAction(req);
    const body = parse(sendSchema, await readJson(req, this.d.maxBodyBytes));
    const to = { user: body.user, ...(body.tenant !== undefined ? { tenant: body.tenant } : {}), ...(body.device !== undefined ? { device: body.device } : {}) };
    const result = await this.d.publisher.publishUnknown({ to, data: body.data, ...(body.event !== undefined ? { event: body.event } : {}) });
    this.d.log.info({ tenant: body.tenant ?? DEFAULT_TENANT, user: body.user, device: body.device, id: result.id }, 'admin test message');
    sendJson(res, 200, result);
  }

  /** An action needs the bearer key, or a session plus its CSRF token from this site. */
  checkAction(req: IncomingMessage): void {
    if (req.headers.authorization !== undefined && this.d.guard.check(req.headers.authorization)) return;
    if (!this.d.authorized(req)) throw new ApiError('unauthorized', 'log in at /admin/login or send Authorization: Bearer <API key>');
    const site = req.headers['sec-fetch-site'];
    if (site !== undefined && site !== 'same-origin') throw new ApiError('forbidden', `cross-site admin action refused (Sec-Fetch-Site: ${String(site)})`);
    const origin = req.headers.origin;
    if (origin !== undefined && hostOf(origin) !== req.headers.host) throw new ApiError('forbidden', 'cross-origin admin action refused');
    const session = readCookie(req.headers.cookie, SESSION_COOKIE)!;
    const sent = req.headers[CSRF_HEADER];
    const want = Buffer.from(this.csrfFor(session));
    const got = Buffer.from(typeof sent === 'string' ? sent : '');
    if (got.length !== want.length || !timingSafeEqual(got, want)) throw new ApiError('forbidden', `missing or wrong ${CSRF_HEADER} header (GET /admin/api/csrf)`);
  }
}

function hostOf(origin: string): string | undefined {
  try {
    return origin === 'null' ? undefined : new URL(origin).host;
  } catch {
    return undefined;
  }
}

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const field = issue.code === 'unrecognized_keys' ? issue.keys[0]! : issue.path.join('.') || 'body';
  throw new ApiError('invalid_field', `${field}: ${issue.message}`, field);
}
