/**
 * HeraldClient: one logical connection to a Herald gateway that survives
 * network drops. It owns the connection state machine (connect, welcome,
 * heartbeat, close, backoff, reconnect) and wires the single-purpose parts
 * together: acks and dedupe of reliable messages, the persisted last seq,
 * request/reply, and the rooms to re-join.
 */
import {
  CloseCode,
  ROOM_NAME_PATTERN,
  TERMINAL_CLOSE_CODES,
  closeCodeInfo,
  type ErrorFrame,
  type MessageFrame,
  type PresenceEventFrame,
  type ReplyFrame,
  type WelcomeFrame,
} from '@herald/protocol';
import { fullJitterDelay } from './backoff.js';
import { AckPosition } from './acks.js';
import { SeqWatermark } from './dedupe.js';
import { HeraldError } from './errors.js';
import { TypedEmitter } from './events.js';
import { Heartbeat } from './heartbeat.js';
import { resolveOptions, type CompressionOption, type HeraldClientOptions, type ResolvedOptions } from './options.js';
import { RequestTracker, type DisconnectPolicy, type RequestFrame } from './requests.js';
import { RoomSet } from './rooms.js';
import { callRpc, type RpcOptions } from './rpc.js';
import { RoomPositions, historyMessages, payloadField, withBytes } from './roomFeatures.js';
import type { WebSocketLike } from './socket.js';
import { decodeClaims, isExpired } from './token.js';
import { buildSocketUrl } from './url.js';
import { jsonWire, type Wire, type WireFrame, type WireKind } from './wire.js';

/** Standard 1006: the socket ended without a close frame. Reported, never sent. */
const ABNORMAL_CLOSURE = 1006;
/** An application close code (browsers allow 3000–4999) for `reconnect()`: not in the server's registry. */
const CLIENT_RECONNECT = 3000;
/**
 * Standard 1012 (service restart), as the SDK's own transports use it: the socket ended because
 * it should be replaced at once — a shared tab became the leader, or an SSE session found that
 * WebSocket works again. Reconnects without a backoff delay.
 */
const RESTART_NOW = 1012;

/**
 * - `idle`: created, `connect()` not called yet;
 * - `connecting`: first attempt in progress;
 * - `connected`: `welcome` received;
 * - `reconnecting`: lost the connection, waiting for the backoff or retrying;
 * - `closed`: stopped by `close()` or a terminal close code (`connect()` starts again).
 */
export type ConnectionState = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'closed';

/** A delivered message. `ack()` acks it (and, cumulatively, everything before it) in manual ack mode. */
export interface HeraldMessage extends MessageFrame {
  /** Acks this message's seq. No-op for messages without a seq, and redundant in auto mode. */
  ack(): void;
}

export interface DisconnectedEvent {
  /** WebSocket close code (1006 when the socket failed without one; 4010 when the client's heartbeat gave up). */
  code: number;
  reason: string;
  willReconnect: boolean;
  /** Delay before the next attempt, in ms, when `willReconnect`. */
  delayMs?: number;
}

export interface ClosedEvent {
  code: number;
  reason: string;
  /** Why the client stopped on its own (absent after `close()`). */
  error?: HeraldError;
}

export interface UnrecoveredEvent {
  /** The `last_seq` the client asked to resume from (null when it sent none). */
  requestedSeq: number | null;
  /** Where the server resumed instead (`welcome.last_seq`). */
  lastSeq: number;
}

/** Every event the client emits, with its payload type. */
export interface HeraldEvents {
  state: { state: ConnectionState; previous: ConnectionState };
  /** A `welcome` arrived: the connection is usable (rooms are being re-joined, queued requests sent). */
  connected: WelcomeFrame;
  disconnected: DisconnectedEvent;
  /** A message, after dedupe. Reliable ones arrive once each, in seq order. */
  message: HeraldMessage;
  /** Someone joined or left a room with presence on. */
  presence: PresenceEventFrame;
  /** A member's awareness state in a room changed (`data: null`: cleared). */
  roomState: { room: string; user: string; device: string; data: unknown };
  /** A room joined with `{recover:true}` could not be recovered after a reconnect: messages may be missing (fetch `history()`). */
  roomUnrecovered: { room: string; offset: number; epoch: string };
  /**
   * The server could not replay from where the client asked (`welcome.recovered`
   * is false): messages were lost to retention or an inbox reset, so reload state
   * from your own database.
   */
  unrecovered: UnrecoveredEvent;
  /** A non-fatal problem (server error frame without a request, failed re-join, storage, a throwing listener…). */
  error: HeraldError;
  /** The client stopped and will not reconnect on its own. */
  closed: ClosedEvent;
}

export interface RequestOptions {
  /** Overrides `requestTimeoutMs` for this call, in ms. */
  timeoutMs?: number;
}

export interface PublishOptions extends RequestOptions {
  /** Event name delivered with the message. */
  event?: string;
}

export interface JoinOptions extends RequestOptions {
  /** Room history: remember the position and replay what was missed on every re-join. */
  recover?: boolean;
}

export interface PresenceMember {
  user: string;
  device: string;
  [extra: string]: unknown;
}

/** The reply to `sync()`. */
export type SyncReply = ReplyFrame & { last_seq?: number; recovered?: boolean };

/** The reply to `presence()`. */
export type PresenceReply = ReplyFrame & { members?: PresenceMember[] };

export interface ClientStats {
  /** Reliable messages dropped as duplicates or late (seq ≤ watermark). */
  duplicatesDropped: number;
  /** Sockets opened, including the first. */
  connects: number;
  /** `welcome` frames received. */
  welcomes: number;
}

const noop = () => {};

export class HeraldClient extends TypedEmitter<HeraldEvents> {
  readonly #opts: ResolvedOptions;
  #state: ConnectionState = 'idle';
  #ws: WebSocketLike | null = null;
  /** The current socket's encoder/decoder (JSON or binary). */
  #wire: Wire | null = null;
  /** The protocol's wire: JSON here; binary when this class is the one from `@herald/client/binary`. */
  readonly #wireKind: WireKind;
  /** Bumped on every attempt and on close(), so stale async steps notice they are obsolete. */
  #attemptGen = 0;
  #welcome: WelcomeFrame | null = null;
  #token: string | null = null;
  #tokenStale = false;
  #refreshedForAttempt = false;
  #failures = 0;
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  #connectTimer: ReturnType<typeof setTimeout> | undefined;
  #refreshTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #heartbeat = new Heartbeat();
  readonly #watermark = new SeqWatermark();
  readonly #position: AckPosition;
  #requestedSeq: number | null = null;
  readonly #requests: RequestTracker;
  readonly #rooms = new RoomSet();
  readonly #positions = new RoomPositions();
  #waiters: { resolve: (w: WelcomeFrame) => void; reject: (e: HeraldError) => void }[] = [];
  readonly #stats: ClientStats = { duplicatesDropped: 0, connects: 0, welcomes: 0 };
  #onlineListener: (() => void) | undefined;

  constructor(options: HeraldClientOptions) {
    super();
    this.#opts = resolveOptions(options);
    if (this.#opts.protocol === 'json') this.#wireKind = jsonWire;
    else {
      const binary = this.binaryWire(this.#opts.compression);
      if (binary === undefined) {
        throw new HeraldError(
          'invalid_argument',
          "protocol 'binary' needs the binary codec: import { HeraldClient } from '@herald/client/binary' (the prebuilt browser bundle has it)",
        );
      }
      this.#wireKind = binary;
    }
    this.#requests = new RequestTracker((frame) => this.#sendWelcomed(frame));
    this.#position = new AckPosition(
      this.#opts.store,
      this.#opts.ackDelayMs,
      (seq) => this.#sendWelcomed({ type: 'ack', seq }),
      (err) => this.emit('error', asError('storage', 'the last-seq store failed', err)),
    );
  }

  /** Current connection state. */
  get state(): ConnectionState {
    return this.#state;
  }

  /** The `welcome` of the current connection, or null when not connected. */
  get welcome(): WelcomeFrame | null {
    return this.#welcome;
  }

  /** The last reliable seq processed (auto mode) or acked (manual mode); null until known. */
  get lastSeq(): number | null {
    return this.#position.value;
  }

  /** Rooms the client is in or will re-join on reconnect. */
  get rooms(): string[] {
    return this.#rooms.list();
  }

  /** The transport in use: 'websocket', or 'sse' after a fallback (`transports` option). */
  get transport(): 'websocket' | 'sse' {
    return this.#opts.transport.current;
  }

  get stats(): Readonly<ClientStats> {
    return { ...this.#stats };
  }

  /**
   * Starts connecting (no-op when already started). Resolves with the first
   * `welcome`; keeps retrying with backoff meanwhile; rejects only when the
   * client stops (terminal close code, `close()`, or `maxReconnectAttempts`).
   */
  connect(): Promise<WelcomeFrame> {
    if (this.#state === 'connected' && this.#welcome) return Promise.resolve(this.#welcome);
    const promise = new Promise<WelcomeFrame>((resolve, reject) => this.#waiters.push({ resolve, reject }));
    // Callers that fire and forget must not crash Node with an unhandled rejection.
    promise.catch(noop);
    if (this.#state === 'idle' || this.#state === 'closed') {
      this.#listenOnline();
      this.#failures = 0;
      this.#setState('connecting');
      void this.#attempt();
    }
    return promise;
  }

  /**
   * Closes the connection with 1000 and stops reconnecting. Pending requests
   * reject with `closed`. Pending acks are sent first. Wanted rooms are kept, so
   * a later `connect()` re-joins them.
   */
  close(): void {
    if (this.#state === 'idle' || this.#state === 'closed') return;
    this.#position.flush();
    const ws = this.#ws;
    this.#teardownSocket();
    if (ws) {
      try {
        ws.close(CloseCode.Normal, 'client closed');
      } catch {
        // already closing
      }
    }
    this.#stop(CloseCode.Normal, 'client closed', undefined);
  }

  /**
   * Drops the current socket and connects again at once (rooms re-joined,
   * replay from the last processed seq). For apps that know the network
   * changed; no-op when idle or closed.
   */
  reconnect(): void {
    if (this.#state === 'idle' || this.#state === 'closed') return;
    this.#position.flush();
    const ws = this.#ws;
    this.#teardownSocket();
    if (ws) {
      try {
        ws.close(CLIENT_RECONNECT, 'client reconnect');
      } catch {
        // already closing
      }
    }
    this.#requests.disconnected();
    this.#failures = 0;
    clearTimeout(this.#reconnectTimer);
    this.#scheduleReconnect(CLIENT_RECONNECT, 'reconnect() called', 0);
  }

  // ---- rooms and requests ----

  /**
   * Joins a room and keeps it joined across reconnects. Resolves with the
   * server's reply; rejects (and forgets the room) on a server error such as
   * `room_forbidden`, or on timeout.
   */
  join(room: string, options: JoinOptions = {}): Promise<ReplyFrame> {
    const invalid = checkRoom(room);
    if (invalid) return Promise.reject(invalid);
    this.#rooms.want(room);
    if (options.recover) this.#positions.enable(room);
    const pending = this.#rooms.joining(room) as Promise<ReplyFrame> | undefined;
    if (pending) return pending;
    return this.#joinRequest(room, options.timeoutMs);
  }

  /** Leaves a room; it is no longer re-joined. Resolves at once when not connected (nothing to leave). */
  async leave(room: string, options: RequestOptions = {}): Promise<void> {
    const invalid = checkRoom(room);
    if (invalid) throw invalid;
    this.#rooms.drop(room);
    this.#positions.disable(room);
    const pending = this.#rooms.joining(room);
    // Let an in-flight join settle first, so the leave is not overtaken by it.
    if (pending) await pending.catch(noop);
    if (this.#state !== 'connected') return;
    try {
      await this.#request({ type: 'leave', room }, options.timeoutMs, 'reject');
    } catch (err) {
      // A dropped connection leaves every room anyway, and we no longer re-join it.
      if (err instanceof HeraldError && err.code === 'disconnected') return;
      throw err;
    }
  }

  /** Publishes to a joined room. Not resent after a disconnect (it may have been applied): rejects with `disconnected` instead. */
  publish(room: string, data: unknown, options: PublishOptions = {}): Promise<ReplyFrame> {
    const invalid = checkRoom(room);
    if (invalid) return Promise.reject(invalid);
    const frame: RequestFrame = { type: 'publish', room, ...payloadField(data) };
    if (options.event !== undefined) frame.event = options.event;
    return this.#request(frame, options.timeoutMs, 'reject');
  }

  /**
   * Calls `method` on the business backend (the server's RPC hook) and resolves with its `data`.
   * Not resent after a disconnect; errors are described in rpc.ts (`isRpcError`).
   */
  rpc<T = unknown>(method: string, data?: unknown, options: RpcOptions = {}): Promise<T> {
    return callRpc<T>((frame, timeoutMs) => this.#request(frame, timeoutMs, 'reject'), method, data, options);
  }

  /** The newest `limit` messages of a room's history, oldest first (bytes as Uint8Array). */
  async history(room: string, options: RequestOptions & { limit?: number } = {}): Promise<MessageFrame[]> {
    const invalid = checkRoom(room);
    if (invalid) throw invalid;
    const frame: RequestFrame = { type: 'history', room, ...(options.limit !== undefined ? { limit: options.limit } : {}) };
    return historyMessages(await this.#request(frame, options.timeoutMs, 'resend'));
  }

  /** Sets this connection's awareness state in a joined room (`null` clears it); members get `roomState` events. */
  setState(room: string, data: unknown, options: RequestOptions = {}): Promise<ReplyFrame> {
    const invalid = checkRoom(room);
    if (invalid) return Promise.reject(invalid);
    return this.#request({ type: 'state', room, data }, options.timeoutMs, 'reject');
  }

  /** Who is in a room: the server's reply, with `members`. */
  presence(room: string, options: RequestOptions = {}): Promise<PresenceReply> {
    const invalid = checkRoom(room);
    if (invalid) return Promise.reject(invalid);
    return this.#request({ type: 'presence', room }, options.timeoutMs, 'resend') as Promise<PresenceReply>;
  }

  /**
   * Acks every reliable message up to `seq` (cumulative). For manual ack mode;
   * values above the highest delivered seq are clamped to it.
   */
  ack(seq: number): void {
    if (!Number.isSafeInteger(seq) || seq < 0) throw new HeraldError('invalid_argument', `seq must be a non-negative integer, got ${String(seq)}`);
    this.#position.advance(Math.min(seq, this.#watermark.value));
  }

  /**
   * Asks the server to replay reliable messages with seq > `after` on this
   * connection (e.g. after the app lost its own state): they are delivered
   * again even if seen before. Resolves with the server's reply
   * (`recovered: false` when `after` is older than the inbox keeps). Rejects
   * with `disconnected` when not connected: after a reconnect, the client
   * resumes from its own position anyway.
   */
  sync(after: number, options: RequestOptions = {}): Promise<SyncReply> {
    if (!Number.isSafeInteger(after) || after < 0) {
      return Promise.reject(new HeraldError('invalid_argument', `after must be a non-negative integer, got ${String(after)}`));
    }
    if (this.#state !== 'connected') return Promise.reject(new HeraldError('disconnected', 'sync needs a connection'));
    const reply = this.#request({ type: 'sync', after }, options.timeoutMs, 'reject');
    // From here on, seqs above `after` are new to the app again; the server
    // likewise treats everything above `after` as unacked.
    this.#watermark.reset(after);
    this.#position.reset(after);
    return reply as Promise<SyncReply>;
  }

  // ---- connection state machine ----

  async #attempt(): Promise<void> {
    const gen = ++this.#attemptGen;
    let token: string;
    try {
      token = await this.#getToken();
    } catch (err) {
      if (gen !== this.#attemptGen) return;
      this.emit('error', asError('token_provider', 'the token provider failed', err));
      this.#afterFailure(ABNORMAL_CLOSURE, 'token provider failed');
      return;
    }
    if (gen !== this.#attemptGen) return;

    const claims = decodeClaims(token);
    const device = this.#opts.device ?? claims?.did ?? 'default';
    const key = this.#opts.storageKey ?? `herald:last_seq:${claims?.tid ?? 'default'}:${claims?.sub ?? ''}:${device}`;
    if (key !== this.#position.key) {
      // A new identity (first connect, or another user's token): its own position.
      await this.#position.load(key);
      if (gen !== this.#attemptGen) return;
    }

    const kind = this.#wireKind;

    const lastSeq = this.#position.value;
    this.#requestedSeq = lastSeq;
    const url = buildSocketUrl(this.#opts.url, {
      device: this.#opts.device,
      platform: this.#opts.platform,
      last_seq: lastSeq === null ? undefined : String(lastSeq),
      token: this.#opts.tokenTransport === 'query' ? token : undefined,
      ...kind.query,
    });

    let ws: WebSocketLike;
    try {
      ws = kind.protocols ? new this.#opts.WebSocket(url, kind.protocols) : new this.#opts.WebSocket(url);
    } catch (err) {
      this.emit('error', asError('invalid_argument', 'could not create the WebSocket', err));
      this.#afterFailure(ABNORMAL_CLOSURE, 'socket creation failed');
      return;
    }
    this.#stats.connects++;
    this.#ws = ws;
    const wire = kind.create(ws, {
      onFrame: (frame) => {
        if (this.#ws !== ws) return;
        if (frame.type !== 'batch') {
          this.#onFrame(frame);
          return;
        }
        // A room batch (server option roomBatchWindowMs): its messages, one by one, in order, as if each had
        // come alone. A listener may close or reconnect the client mid-batch: the rest is then dropped, as
        // frames still in flight on a closed socket would be.
        const list = (frame as { messages?: unknown }).messages;
        if (!Array.isArray(list)) {
          this.emit('error', new HeraldError('bad_frame', 'batch frame without a messages array'));
          return;
        }
        for (const m of list as WireFrame[]) {
          if (this.#ws !== ws) return;
          if (m !== null && typeof m === 'object' && m.type === 'message') this.#onFrame(m);
          else this.emit('error', new HeraldError('bad_frame', 'a batch entry that is not a message frame'));
        }
      },
      onError: (error, fatal) => {
        if (this.#ws !== ws) return;
        this.emit('error', error);
        // A binary stream that failed to decode cannot be trusted further: 4000, as the server would.
        if (fatal) this.#abandon(ws, CloseCode.ProtocolError, error.message);
      },
    });
    this.#wire = wire;
    ws.onopen = () => {
      if (this.#ws !== ws) return;
      if (this.#opts.tokenTransport === 'frame') wire.send({ type: 'auth', token });
    };
    ws.onmessage = (event) => {
      if (this.#ws !== ws) return;
      this.#heartbeat.touch();
      wire.receive(event.data);
    };
    ws.onclose = (event) => {
      if (this.#ws === ws) this.#onSocketClosed(event.code, event.reason);
    };
    // A close event always follows an error event; handling happens there.
    ws.onerror = noop;
    this.#connectTimer = setTimeout(() => this.#abandon(ws, ABNORMAL_CLOSURE, 'no welcome within connectTimeoutMs'), this.#opts.connectTimeoutMs);
  }

  async #getToken(): Promise<string> {
    const source = this.#opts.token;
    if (this.#opts.tokenTransport === 'none') return ''; // the server's connect hook authenticates (cookies)
    if (typeof source === 'string') return source;
    const expired = this.#token !== null && isExpired(decodeClaims(this.#token), Date.now());
    if (this.#token === null || this.#tokenStale || expired) {
      const token = await source();
      if (typeof token !== 'string' || token === '') throw new Error('the token provider returned no token');
      this.#token = token;
      this.#tokenStale = false;
    }
    return this.#token;
  }

  /** A frame from the wire (already parsed or decoded to its v1 shape). */
  #onFrame(frame: WireFrame): void {
    const f = frame as { type: string };
    switch (f.type) {
      case 'welcome':
        this.#onWelcome(f as WelcomeFrame);
        break;
      case 'message':
        this.#onMessage(f as MessageFrame);
        break;
      case 'reply':
      case 'error':
        if (!this.#requests.settle(f as ReplyFrame | ErrorFrame) && f.type === 'error') {
          const e = f as ErrorFrame;
          this.emit('error', new HeraldError('server', `server error ${e.code}: ${e.message}`, { serverCode: e.code }));
        }
        break;
      case 'join':
      case 'leave':
        this.emit('presence', f as PresenceEventFrame);
        break;
      case 'state':
        this.emit('roomState', f as unknown as HeraldEvents['roomState']);
        break;
      default:
        // `pong`, and frame types newer than this SDK: ignored on purpose.
        break;
    }
  }

  #onWelcome(welcome: WelcomeFrame): void {
    clearTimeout(this.#connectTimer);
    this.#welcome = welcome;
    this.#stats.welcomes++;
    this.#failures = 0;
    this.#refreshedForAttempt = false;
    // The server is authoritative: its last_seq can be lower than ours when its
    // inbox was reset, and higher when it used the device's stored cursor.
    const lastSeq = typeof welcome.last_seq === 'number' ? welcome.last_seq : 0;
    this.#watermark.reset(lastSeq);
    this.#position.reset(lastSeq);

    const hb = welcome.heartbeat_ms;
    if (typeof hb === 'number' && hb > 0) {
      const ws = this.#ws;
      this.#heartbeat.start(
        hb / 2,
        this.#opts.heartbeatTimeoutMs ?? 2 * hb,
        () => this.#sendRaw({ type: 'ping' }),
        () => {
          if (ws) this.#abandon(ws, CloseCode.HeartbeatTimeout, 'heartbeat timeout: nothing received from the server');
        },
      );
    }

    this.#scheduleTokenRefresh();

    // Re-join and send queued requests before telling the app, so anything the
    // app sends from a `connected` listener (e.g. a presence query) goes after
    // the re-joins.
    for (const room of this.#rooms.toRejoin()) {
      this.#joinRequest(room, undefined).catch((err: unknown) => {
        if (err instanceof HeraldError && err.code === 'closed') return;
        this.emit('error', asError('server', `re-joining room ${room} failed`, err));
      });
    }
    this.#requests.flush();

    this.#setState('connected');
    this.emit('connected', welcome);
    if (this.#state !== 'connected') return; // a listener closed the client
    if (welcome.recovered === false) this.emit('unrecovered', { requestedSeq: this.#requestedSeq, lastSeq });
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w.resolve(welcome);
  }

  #onMessage(raw: MessageFrame): void {
    if (typeof raw.room === 'string' && typeof raw.offset === 'number' && !this.#positions.accept(raw.room, raw.offset)) return;
    const frame = withBytes(raw);
    const seq = frame.seq;
    if (typeof seq === 'number') {
      if (!this.#watermark.accept(seq)) {
        this.#stats.duplicatesDropped++;
        // The server resends only what it believes unacked; re-ack so it stops.
        this.#position.reackIfCovered(seq);
        return;
      }
    }
    const message: HeraldMessage = { ...frame, ack: typeof seq === 'number' ? () => this.ack(seq) : noop };
    this.emit('message', message);
    if (typeof seq === 'number' && this.#opts.ackMode === 'auto') this.#position.advance(seq);
  }

  #onSocketClosed(code: number, reason: string): void {
    this.#position.flush();
    this.#teardownSocket();
    this.#afterFailure(code, reason);
  }

  /** Decides what follows a lost or failed connection: refresh the token, reconnect after a backoff, or stop. */
  #afterFailure(code: number, reason: string): void {
    if (this.#state === 'closed' || this.#state === 'idle') return;
    this.#requests.disconnected();
    if (code === CloseCode.Unauthorized) {
      this.#tokenStale = true;
      if (typeof this.#opts.token === 'function' && !this.#refreshedForAttempt) {
        // One immediate retry with a fresh token; a second 4001 in a row is final.
        this.#refreshedForAttempt = true;
        this.#scheduleReconnect(code, reason, 0);
        return;
      }
      this.#stop(code, reason, new HeraldError('unauthorized', `the server rejected the token (4001: ${reason || 'unauthorized'})`, { closeCode: code }));
      return;
    }
    if (code === RESTART_NOW && this.#opts.reconnect) {
      this.#scheduleReconnect(code, reason, 0);
      return;
    }
    if (TERMINAL_CLOSE_CODES.has(code) || !this.#opts.reconnect) {
      const info = closeCodeInfo(code);
      this.#stop(
        code,
        reason,
        new HeraldError('terminal', `closed with ${code}${info ? ` (${info.meaning})` : ''}${reason ? `: ${reason}` : ''}; not reconnecting`, { closeCode: code }),
      );
      return;
    }
    if (this.#failures >= this.#opts.maxReconnectAttempts) {
      this.#stop(code, reason, new HeraldError('reconnect_failed', `gave up after ${this.#failures} reconnect attempts`, { closeCode: code }));
      return;
    }
    // "Back off" codes (connection limit, rate limit) start from a wider window.
    const extra = closeCodeInfo(code)?.advice === 'back-off' ? 3 : 0;
    const delay = fullJitterDelay(this.#failures + extra, { minDelayMs: this.#opts.minReconnectDelayMs, maxDelayMs: this.#opts.maxReconnectDelayMs }, this.#opts.random);
    this.#failures++;
    this.#scheduleReconnect(code, reason, delay);
  }

  #scheduleReconnect(code: number, reason: string, delayMs: number): void {
    this.#setState('reconnecting');
    this.emit('disconnected', { code, reason, willReconnect: true, delayMs });
    if (this.#state !== 'reconnecting') return; // a listener closed the client
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      void this.#attempt();
    }, delayMs);
  }

  /** Gives up on a socket that is alive on paper but silent (heartbeat) or never welcomed us. */
  #abandon(ws: WebSocketLike, code: number, reason: string): void {
    if (this.#ws !== ws) return;
    this.#teardownSocket();
    try {
      // 4000 and 4010 are in the application range browsers accept; 1006 is not sendable.
      ws.close(code === CloseCode.HeartbeatTimeout || code === CloseCode.ProtocolError ? code : CloseCode.Normal, reason.slice(0, 100));
    } catch {
      // ignore: we stopped listening to it anyway
    }
    this.#afterFailure(code, reason);
  }

  #teardownSocket(): void {
    const ws = this.#ws;
    this.#ws = null;
    this.#wire = null;
    this.#welcome = null;
    this.#heartbeat.stop();
    clearTimeout(this.#connectTimer);
    clearTimeout(this.#refreshTimer);
    if (ws) {
      ws.onopen = null;
      ws.onmessage = null;
      ws.onclose = null;
      // Keep a no-op error handler: `ws` throws on unhandled 'error' events.
      ws.onerror = noop;
    }
  }

  #stop(code: number, reason: string, error: HeraldError | undefined): void {
    this.#attemptGen++;
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = undefined;
    this.#unlistenOnline();
    this.#position.persist();
    this.#setState('closed');
    const rejection = error ?? new HeraldError('closed', 'the client was closed', { closeCode: code });
    this.#requests.rejectAll(rejection);
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w.reject(rejection);
    this.emit('closed', error ? { code, reason, error } : { code, reason });
  }

  #setState(state: ConnectionState): void {
    const previous = this.#state;
    if (previous === state) return;
    this.#state = state;
    this.emit('state', { state, previous });
  }

  // ---- token refresh over the open connection ----

  /** Arms the in-band refresh for the current token, when it has a provider and an `exp`. */
  #scheduleTokenRefresh(): void {
    clearTimeout(this.#refreshTimer);
    const lead = this.#opts.tokenRefreshLeadMs;
    if (typeof this.#opts.token !== 'function' || lead <= 0 || this.#token === null) return;
    const exp = decodeClaims(this.#token)?.exp;
    if (exp === undefined) return;
    const remaining = exp * 1000 - Date.now();
    // Already (nearly) expired: the server's 4001 and the reconnect path handle it.
    if (remaining <= 1000) return;
    const delay = remaining - Math.min(lead, remaining / 2);
    this.#refreshTimer = setTimeout(() => void this.#refreshToken(), delay);
    (this.#refreshTimer as { unref?: () => void }).unref?.();
  }

  async #refreshToken(): Promise<void> {
    const ws = this.#ws;
    const source = this.#opts.token;
    if (typeof source !== 'function') return;
    let fresh: string;
    try {
      fresh = await source();
      if (typeof fresh !== 'string' || fresh === '') throw new Error('the token provider returned no token');
    } catch (err) {
      this.emit('error', asError('token_provider', 'refreshing the token failed', err));
      return;
    }
    if (this.#ws !== ws || this.#state !== 'connected') return; // the connection changed meanwhile
    try {
      // The server verifies it and extends the connection; a token for another identity closes it (4003).
      await this.#request({ type: 'auth', token: fresh }, undefined, 'reject');
      this.#token = fresh;
      this.#tokenStale = false;
      if (this.#ws === ws) this.#scheduleTokenRefresh();
    } catch (err) {
      if (err instanceof HeraldError && (err.code === 'closed' || err.code === 'disconnected')) return;
      this.emit('error', asError('server', 'the server refused the refreshed token', err));
    }
  }

  // ---- sending ----

  #sendRaw(frame: WireFrame): boolean {
    return this.#wire?.send(frame) ?? false;
  }

  /** Sends only on a welcomed connection: before `welcome` the server expects auth, not requests. */
  #sendWelcomed(frame: WireFrame): boolean {
    return this.#welcome !== null && this.#sendRaw(frame);
  }

  #request(frame: RequestFrame, timeoutMs: number | undefined, policy: DisconnectPolicy): Promise<ReplyFrame> {
    // Requests made before connect() wait for the first welcome; after close() they fail.
    if (this.#state === 'closed') {
      return Promise.reject(new HeraldError('closed', `cannot ${frame.type}: the client is closed; call connect() first`));
    }
    return this.#requests.request(frame, timeoutMs ?? this.#opts.requestTimeoutMs, policy);
  }

  #joinRequest(room: string, timeoutMs: number | undefined): Promise<ReplyFrame> {
    const since = this.#positions.get(room);
    const request = this.#request({ type: 'join', room, ...(since ? { since } : {}) }, timeoutMs, 'resend');
    this.#rooms.trackJoin(room, request);
    request.then((reply) => {
      this.#positions.onJoinReply(room, reply, since);
      if (since && reply.recovered === false) this.emit('roomUnrecovered', { room, offset: reply.offset as number, epoch: reply.epoch as string });
    }, noop);
    request.catch((err: unknown) => {
      // A refused or timed-out join is forgotten; a close keeps the room for the next connect().
      if (!(err instanceof HeraldError && err.code === 'closed') && this.#rooms.joining(room) === undefined) this.#rooms.drop(room);
    });
    return request;
  }

  // ---- browser niceties ----

  /** When the browser says the network is back, retry now instead of waiting out the backoff. */
  #listenOnline(): void {
    const target = globalThis as { addEventListener?: (t: string, l: () => void) => void };
    if (this.#onlineListener || typeof target.addEventListener !== 'function') return;
    this.#onlineListener = () => {
      if (this.#state === 'reconnecting' && this.#reconnectTimer !== undefined) {
        clearTimeout(this.#reconnectTimer);
        this.#reconnectTimer = undefined;
        void this.#attempt();
      }
    };
    target.addEventListener('online', this.#onlineListener);
  }

  #unlistenOnline(): void {
    const target = globalThis as { removeEventListener?: (t: string, l: () => void) => void };
    if (this.#onlineListener && typeof target.removeEventListener === 'function') target.removeEventListener('online', this.#onlineListener);
    this.#onlineListener = undefined;
  }

  /**
   * The binary protocol's wire, or undefined when this build has none. The
   * class exported by `@herald/client` answers undefined, so nothing of the
   * binary codec is reachable from it and a JSON-only app bundle leaves it
   * out, with or without code splitting; `@herald/client/binary` overrides it.
   */
  protected binaryWire(_compression: CompressionOption): WireKind | undefined {
    return undefined;
  }

  protected override onListenerError(event: keyof HeraldEvents, err: unknown): void {
    if (event === 'error') {
      // Never loop: report to the host like an uncaught error, without throwing.
      (globalThis as { reportError?: (e: unknown) => void }).reportError?.(err);
      return;
    }
    this.emit('error', asError('listener', `a ${String(event)} listener threw`, err));
  }
}

function checkRoom(room: string): HeraldError | undefined {
  if (typeof room !== 'string' || !ROOM_NAME_PATTERN.test(room)) {
    return new HeraldError('invalid_argument', `room must be 1–128 of [A-Za-z0-9._:@/-], got ${JSON.stringify(room)}`);
  }
  return undefined;
}

function asError(code: HeraldError['code'], message: string, cause: unknown): HeraldError {
  if (cause instanceof HeraldError) return cause;
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new HeraldError(code, `${message}: ${detail}`, { cause });
}
