/**
 * One server connection for all tabs of an origin (`shared: true`). Every
 * tab runs its own client over a "socket" made here: in the leader tab it
 * wraps the real WebSocket (or SSE stream) and relays every server frame to
 * the other tabs over a BroadcastChannel; in the other tabs it is fed by
 * that channel and sends its frames through the leader. So every tab's
 * client sees the frames a connection of its own would see, and keeps its
 * own dedupe watermark. What happens once:
 *   - only the leader's acks reach the server (followers' are dropped): the
 *     server's cursor moves once, when the leader tab processed a message;
 *   - requests from a follower carry ids prefixed with its tab id, and the
 *     reply goes to that tab only.
 * Hand-over: when the leader tab goes away the browser releases its lock,
 * followers see their socket close and reconnect, one of them becomes leader
 * and opens the real connection from its own last processed seq (the
 * position store is shared by the origin's tabs); anything the others
 * already had is dropped by their watermarks — nothing lost, nothing twice.
 */
import type { WebSocketConstructor, WebSocketLike } from '../socket.js';
import { Election, type ChannelConstructor, type ChannelLike } from './leader.js';

type Handler<E> = { bivarianceHack(event: E): void }['bivarianceHack'];

type Msg =
  | { t: 'hello'; tab: string }
  | { t: 'frame'; data: string; to?: string }
  | { t: 'send'; tab: string; data: string }
  | { t: 'closed'; code: number; reason: string };

const OPEN = 1;
const CLOSED = 3;
/**
 * A socket ended because a tab's role changed (this one leads now, or the leader tab left or gave
 * the place up): reconnect at once. Never the real connection's own 1000 — that code tells a client
 * to stop for good, and the other tabs must carry on.
 */
const ROLE_CHANGED = 1012;
const ID_SEP = '~';

/** Per key, per tab: the channel, the election, and the socket the tab's client uses now. */
class Hub {
  readonly tab = Math.random().toString(36).slice(2, 10) + Date.now().toString(36);
  readonly channel: ChannelLike;
  readonly election: Election;
  current: SharedSocketBase | undefined;

  constructor(key: string, Channel: ChannelConstructor) {
    this.channel = new Channel(key);
    this.channel.onmessage = (ev) => this.current?.onChannel(ev.data as Msg);
    this.election = new Election(key, this.tab, Channel);
    // A socket made while this tab's role was the other one ends, so the client reconnects in its new role.
    this.election.onChange = () => this.current?.roleChanged();
    (globalThis as { addEventListener?: (t: string, f: () => void) => void }).addEventListener?.('pagehide', () => this.election.resign());
  }
}

const hubs = new Map<string, Hub>();

abstract class SharedSocketBase implements WebSocketLike {
  readyState = 0;
  onopen: Handler<unknown> | null = null;
  onmessage: Handler<{ data: unknown }> | null = null;
  onclose: Handler<{ code: number; reason: string }> | null = null;
  onerror: Handler<unknown> | null = null;
  binaryType?: string;

  constructor(protected readonly hub: Hub) {
    hub.current?.roleChanged();
    hub.current = this;
  }

  abstract send(data: string | Uint8Array): void;
  abstract close(code?: number, reason?: string): void;
  abstract onChannel(m: Msg): void;
  abstract roleChanged(): void;

  protected post(m: Msg): void {
    this.hub.channel.postMessage(m);
  }

  protected deliver(data: string): void {
    if (this.readyState === OPEN) this.onmessage?.({ data });
  }

  protected finish(code: number, reason: string): void {
    if (this.readyState === CLOSED) return;
    this.readyState = CLOSED;
    if (this.hub.current === this) this.hub.current = undefined;
    setTimeout(() => this.onclose?.({ code, reason }), 0);
  }
}

/** The leader tab's socket: the real connection, relayed. */
class LeaderSocket extends SharedSocketBase {
  private readonly real: WebSocketLike;
  private welcome: string | undefined;
  /** This tab closed the connection because it no longer leads (or the app closed its client): the other tabs carry on. */
  private leaving = false;

  constructor(hub: Hub, Real: WebSocketConstructor, url: string, protocols?: string | string[]) {
    super(hub);
    this.real = protocols ? new Real(url, protocols) : new Real(url);
    this.real.onopen = (e) => {
      this.readyState = OPEN;
      this.onopen?.(e);
    };
    this.real.onerror = (e) => this.onerror?.(e);
    this.real.onmessage = (e) => this.fromServer(e.data);
    this.real.onclose = (e) => {
      // The server ended the connection: every tab does what its code says. This tab left the lead:
      // the others reconnect at once, and one of them opens the next connection.
      if (this.leaving) this.post({ t: 'closed', code: ROLE_CHANGED, reason: 'the leader tab left' });
      else this.post({ t: 'closed', code: e.code, reason: e.reason });
      this.finish(e.code, e.reason);
    };
  }

  private fromServer(data: unknown): void {
    if (typeof data !== 'string') return; // shared connections speak the JSON protocol
    if (data.startsWith('{"type":"welcome"')) this.welcome = data;
    // A reply to a follower's request goes to that tab only, with its own id back;
    // a reply to this tab's own request stays here.
    const reply = /^\{"type":"(?:reply|error)","id":"([^"]*)"/.exec(data);
    if (reply) {
      const sep = reply[1]!.indexOf(ID_SEP);
      if (sep < 0) return this.deliver(data);
      const tab = reply[1]!.slice(0, sep);
      this.post({ t: 'frame', to: tab, data: data.replace(tab + ID_SEP, '') });
      return;
    }
    this.post({ t: 'frame', data });
    this.deliver(data);
  }

  send(data: string | Uint8Array): void {
    if (this.real.readyState === OPEN) this.real.send(data);
  }

  close(code?: number, reason?: string): void {
    // The app closed the leader's client: leave the place to another tab.
    if (code === 1000) {
      this.leaving = true;
      this.hub.election.resign();
    }
    this.real.close(code, reason);
  }

  onChannel(m: Msg): void {
    if (m.t === 'hello' && this.welcome !== undefined) this.post({ t: 'frame', to: m.tab, data: this.welcome });
    else if (m.t === 'send') this.relay(m.tab, m.data);
  }

  /** A follower's frame: acks are the leader's alone; pings are answered here; the rest goes out. */
  private relay(tab: string, data: string): void {
    if (data.startsWith('{"type":"ack"')) return;
    if (data === '{"type":"ping"}') return this.post({ t: 'frame', to: tab, data: '{"type":"pong"}' });
    if (this.real.readyState === OPEN) this.real.send(data);
  }

  roleChanged(): void {
    if (this.hub.election.leader) return;
    this.leaving = true;
    this.real.close(1000, 'no longer the leader tab');
    // This tab's client carries on as a follower (the real close event may never come: the tab may be going away).
    this.finish(ROLE_CHANGED, 'another tab leads now');
  }
}

/** A follower tab's socket: frames from the leader, frames to the leader. */
class FollowerSocket extends SharedSocketBase {
  private welcomed = false;

  constructor(hub: Hub) {
    super(hub);
    queueMicrotask(() => {
      if (this.readyState !== 0) return;
      this.readyState = OPEN;
      this.onopen?.({});
      this.post({ t: 'hello', tab: hub.tab });
    });
  }

  send(data: string | Uint8Array): void {
    if (this.readyState !== OPEN || typeof data !== 'string') return;
    // The leader authenticated the connection and acks for every tab.
    if (data.startsWith('{"type":"auth"') || data.startsWith('{"type":"ack"')) return;
    // Request ids carry this tab's id so the reply comes back here only.
    let frame: { id?: unknown };
    try {
      frame = JSON.parse(data) as { id?: unknown };
    } catch {
      return;
    }
    if (typeof frame.id === 'string') frame.id = this.hub.tab + ID_SEP + frame.id;
    this.post({ t: 'send', tab: this.hub.tab, data: JSON.stringify(frame) });
  }

  close(code = 1000, reason = ''): void {
    this.finish(code, reason);
  }

  onChannel(m: Msg): void {
    if (m.t === 'frame') {
      if (m.to !== undefined && m.to !== this.hub.tab) return;
      if (m.data.startsWith('{"type":"welcome"')) this.welcomed = true;
      else if (!this.welcomed) return; // frames of a connection this tab has not joined yet
      this.deliver(m.data);
    } else if (m.t === 'closed') {
      // The connection of every tab ended: the same code, so each client does what it says.
      this.finish(m.code, m.reason);
    }
  }

  roleChanged(): void {
    if (this.hub.election.leader) this.finish(ROLE_CHANGED, 'this tab leads now');
  }
}

/** The constructor the client uses with `shared: true`: leader or follower socket per the tab's role now. */
export function sharedSocketConstructor(Real: WebSocketConstructor, key: string, Channel: ChannelConstructor): WebSocketConstructor {
  return class SharedSocket {
    constructor(url: string, protocols?: string | string[]) {
      let hub = hubs.get(key);
      if (!hub) hubs.set(key, (hub = new Hub(key, Channel)));
      // A class constructor may return another object: the socket for this tab's role.
      return (hub.election.leader ? new LeaderSocket(hub, Real, url, protocols) : new FollowerSocket(hub)) as unknown as SharedSocket;
    }
  } as unknown as WebSocketConstructor;
}
