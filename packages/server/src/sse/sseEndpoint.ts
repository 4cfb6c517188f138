/**
 * The Server-Sent Events transport (DESIGN.md §10): `GET /sse` opens a
 * stream, `POST /sse/ack` acks for it. Admission (draining, origin, node
 * limits), identity, activation, rooms, expiry and detach are the
 * WebSocket's own rules (gateway/admission.ts, gateway/activation.ts); what
 * is SSE's is here: HTTP answers before the stream starts, comment
 * heartbeats, and acks arriving on a separate request.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { CloseCode, DEFAULT_DEVICE, DEVICE_ID_PATTERN } from '@herald/protocol';
import { z } from 'zod';
import { readJson } from '../api/http.js';
import type { Identity } from '../auth/jwtVerifier.js';
import type { HeraldConfig } from '../config/schema.js';
import { AckError } from '../delivery/reliableStream.js';
import { ApiError } from '../errors.js';
import { IdentityRefused, type Activation } from '../gateway/activation.js';
import { drainInWaves } from '../gateway/drainWaves.js';
import type { GatewaySession } from '../gateway/gatewaySession.js';
import type { FrameHandler } from '../gateway/frameHandler.js';
import type { Rooms } from '../gateway/rooms.js';
import { ProtocolViolation, validateClientFrame } from '../protocol/clientFrames.js';
import { clientAddress } from '../limits/clientAddress.js';
import { originAllowed } from '../limits/originCheck.js';
import type { Limiter } from '../limits/limiter.js';
import type { Registry } from '../delivery/registry.js';
import { parseSseRequest } from './sseRequest.js';
import { SseSession, type SseHooks } from './sseSession.js';

export interface SseDeps {
  config: HeraldConfig;
  core: Activation;
  rooms: Rooms;
  /** The WebSocket's frame handler: client frames posted for a stream take the same path. */
  frames: FrameHandler;
  /** The gateway's registry, where streams and WebSocket sessions are indexed alike. */
  registry: Registry<GatewaySession>;
  limiter: Limiter;
  /** Node-wide admission limits shared with WebSocket upgrades: a reason when refused. */
  refusal(ip: string): string | undefined;
  /** False once the node drains. */
  accepting(): boolean;
  /**
   * Seam for the connect hook (HERALD_HOOK_CONNECT_URL, DESIGN.md §7): authenticates a stream
   * that has no token, as for a token-less WebSocket; throws IdentityRefused to refuse it.
   * Absent: a stream without a token is refused 401.
   */
  authenticateWithoutToken?: (req: IncomingMessage, query: URLSearchParams) => Promise<Identity>;
}

const frameSchema = z.strictObject({
  device: z.string().regex(DEVICE_ID_PATTERN, 'must be 1-64 of [A-Za-z0-9._:-]'),
  frame: z.unknown(),
});

const ackSchema = z.strictObject({
  device: z.string().regex(DEVICE_ID_PATTERN, 'must be 1-64 of [A-Za-z0-9._:-]'),
  seq: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
});

export class SseEndpoint implements SseHooks {
  /** Streams not yet closed (for shutdown and node limits). */
  readonly live = new Set<SseSession>();
  /** Called with the socket of a stream once it is admitted: it stops counting as an idle HTTP socket. */
  adopted: (socket: Duplex) => void = () => {};
  private readonly trustedProxies: ReadonlySet<string>;

  constructor(private readonly d: SseDeps) {
    this.trustedProxies = new Set(d.config.trustedProxies);
  }

  /** `GET /sse`: answers with an HTTP error, or starts the stream (resolves once it is active or refused). */
  async stream(req: IncomingMessage, res: ServerResponse, query: URLSearchParams): Promise<void> {
    const { config, core } = this.d;
    // HEAD would open a session whose events go nowhere.
    if (req.method !== 'GET') throw new ApiError('method_not_allowed', `${req.method} is not allowed on /sse`);
    if (!this.d.accepting()) throw new ApiError('draining');
    const cors = this.cors(req);
    const p = parseSseRequest(query, req.headers, config.maxRoomsPerConnection);
    const hook = this.d.authenticateWithoutToken;
    if (p.token === undefined && hook === undefined) throw new ApiError('unauthorized', 'a token is required: GET /sse?token=<JWT>');
    const ip = clientAddress(req, this.trustedProxies);
    const limit = this.d.refusal(ip);
    if (limit !== undefined) throw new ApiError('rate_limited', limit);
    let who: Awaited<ReturnType<Activation['identify']>>;
    try {
      // No token: the connect hook (when wired) says who it is; the device is the query's, else "default".
      who = p.token !== undefined ? await core.identify(p.token, p.device ?? '') : { identity: await hook!(req, query), device: p.device ?? DEFAULT_DEVICE };
    } catch (err) {
      if (!(err instanceof IdentityRefused)) throw err;
      throw new ApiError(err.code === CloseCode.Forbidden ? 'forbidden' : 'unauthorized', err.message);
    }
    const s = new SseSession(core.newId(), res, who.device, p.platform, p.lastSeq, ip, this, config.outboundBufferBytes, cors);
    this.live.add(s);
    if (req.socket) this.adopted(req.socket);
    // Long-lived: no request or idle timeout of the HTTP server applies to a stream.
    req.socket?.setTimeout(0);
    try {
      await core.activate(s, who.identity, () => {
        // With a join hook a join is asynchronous: its failure closes nothing but is logged.
        for (const room of p.rooms) {
          Promise.resolve(this.d.rooms.join(s, room)).catch((err: unknown) => core.d.log.warn({ err, conn: s.id, room }, 'room join of a new SSE stream failed'));
        }
      });
    } catch (err) {
      core.d.log.error({ err, conn: s.id }, 'activation failed');
      s.close(CloseCode.TryAgainLater, 'engine unavailable, try again later');
    }
  }

  /**
   * `POST /sse/ack` with the stream's token: a cumulative ack for one of the token's
   * user's devices. 404 when that device has no stream here, 400 for a seq it was never sent.
   */
  async ack(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { body, session } = await this.posted(req, ackSchema);
    try {
      session.reliable!.ack(body.seq);
    } catch (err) {
      if (!(err instanceof AckError)) throw err;
      throw new ApiError('invalid_field', `seq: ${err.message}`, 'seq');
    }
    res.writeHead(204, { 'cache-control': 'no-store', ...this.cors(req) }).end();
  }

  /**
   * `POST /sse/frame` with the stream's token and `{"device","frame"}`: a client frame (join,
   * leave, publish, presence, sync, auth, …) for the device's stream, handled exactly as on a
   * WebSocket and charged against the same frame rate. 202: the reply or error frame arrives
   * on the stream, with the frame's `id`.
   */
  async frame(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { body, session } = await this.posted(req, frameSchema);
    let frame;
    try {
      frame = validateClientFrame(body.frame, this.d.config.maxJsonDepth);
    } catch (err) {
      if (!(err instanceof ProtocolViolation)) throw err;
      throw new ApiError('invalid_field', `frame: ${err.message}`, 'frame');
    }
    if (frame.type !== 'ack') {
      const limit = this.d.limiter.clientFrame(session.tenant, session.user);
      if (limit !== undefined) throw new ApiError('rate_limited', `rate limit exceeded (${limit.replaceAll('_', ' ')})`);
    }
    await this.d.frames.handle(session, frame);
    res.writeHead(202, { 'cache-control': 'no-store', ...this.cors(req) }).end();
  }

  /** A POST for a stream: the bearer token, the body, and the token's user's active stream of `device`. */
  private async posted<T extends { device: string }>(req: IncomingMessage, schema: z.ZodType<T>): Promise<{ body: T; session: GatewaySession }> {
    const { config, core } = this.d;
    const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    if (!m) throw new ApiError('unauthorized', "Authorization: Bearer <the stream's token> is required");
    const r = schema.safeParse(await readJson(req, config.httpMaxBodyBytes, config.maxJsonDepth));
    if (!r.success) {
      const issue = r.error.issues[0]!;
      const field = issue.code === 'unrecognized_keys' ? issue.keys[0]! : issue.path.join('.') || 'body';
      throw new ApiError('invalid_field', `${field}: ${issue.message}`, field);
    }
    const { device } = r.data;
    let who: Awaited<ReturnType<Activation['identify']>>;
    try {
      who = await core.identify(m[1]!, device);
    } catch (err) {
      if (!(err instanceof IdentityRefused)) throw err;
      throw new ApiError(err.code === CloseCode.Forbidden ? 'forbidden' : 'unauthorized', err.message);
    }
    // Looked up under the token's own user: another user's device is simply not found.
    const session = this.d.registry.device(who.identity.tenant, who.identity.user, device);
    if (session?.reliable === undefined || session.state !== 'active') {
      throw new ApiError('not_found', `no active stream of device "${device}" for this user on this node`, 'device');
    }
    return { body: r.data, session };
  }

  /** `OPTIONS /sse/ack` and `/sse/frame`: the CORS preflight a browser sends before a cross-origin ack with a bearer token. */
  async preflight(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const cors = this.cors(req);
    res
      .writeHead(204, {
        ...cors,
        ...(cors['access-control-allow-origin'] ? { 'access-control-allow-methods': 'POST', 'access-control-allow-headers': 'authorization, content-type', 'access-control-max-age': '600' } : {}),
      })
      .end();
  }

  /** CORS headers for a cross-origin page on the allow-list (EventSource and fetch need them); none otherwise. */
  private cors(req: IncomingMessage): Record<string, string> {
    const origin = req.headers.origin;
    if (origin === undefined) return {};
    if (!originAllowed(origin, this.d.config.allowedOrigins)) {
      this.d.limiter.reject('origin');
      throw new ApiError('forbidden', `origin ${origin} is not allowed`);
    }
    return { 'access-control-allow-origin': origin, vary: 'Origin' };
  }

  onTimer(s: SseSession): void {
    if (s.state !== 'active') return;
    const now = Date.now();
    if (this.d.core.expired(s, now)) return;
    // No frames come back on a stream: the TCP connection's fate tells whether the reader is there.
    s.lastSeen = now;
    s.heartbeat();
    this.d.core.d.hub.wheel.schedule(s.timer, this.d.config.heartbeatMs);
  }

  onOverflow(s: SseSession): void {
    s.close(CloseCode.SlowConsumer, 'outbound buffer over its limit');
  }

  onClose(s: SseSession): void {
    this.live.delete(s);
    // A client that went away: 1006 as for a WebSocket dropped without a close frame.
    this.d.core.ended(s, 1006, 'stream closed by the client');
  }

  onEvict(s: SseSession): void {
    this.d.core.detach(s);
  }

  /** Ends every stream with `code` (drain): the WebSocket's wave schedule (gateway/drainWaves.ts). */
  closeAll(code: number, reason: string, timeoutMs: number, windowMs = 0): Promise<void> {
    return drainInWaves([...this.live], { closed: (s) => s.whenClosed(), terminate: (s) => s.terminate(), live: () => this.live }, code, reason, timeoutMs, windowMs);
  }
}
