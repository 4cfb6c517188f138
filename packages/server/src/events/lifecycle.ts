/**
 * The one event seam: every lifecycle fact of a node is emitted here, once,
 * from the place where it happens — connections, cluster presence, rooms,
 * client publishes, and the reliable delivery of each message. Metrics and
 * the admin page read from it, and so do webhooks (webhooks/, docs/events.md).
 *
 * Cost: listeners are plain objects with optional methods. Emitting loops
 * over the listeners of that one kind, passing references the caller already
 * holds (the session, the stored message): nothing is allocated per event,
 * and an event with no listener costs one length check. The one costly
 * detail — the (seq, id) list of acked messages — is built only when a
 * listener asks for it with `wantsAckedMessages`.
 */
import type { InboxMessage } from '../engine/types.js';

/** Who an event is about: read from the live session itself, not copied per event. */
export interface SessionRef {
  /** Connection id, unique in the cluster (`<node>.<n>`). */
  readonly id: string;
  readonly tenant: string;
  readonly user: string;
  readonly device: string;
  readonly platform: string;
  /** Connected since, ms since the epoch. */
  readonly connectedAt: number;
}

/** One reliable message a device acked. */
export interface AckedMessage {
  readonly seq: number;
  /** The id the publish returned. */
  readonly id: string;
}

/** Why a user went offline: their last device disconnected, or the node holding it was lost. */
export type OfflineReason = 'disconnected' | 'node_lost';

export interface LifecycleListener {
  /** A session became active (after auth and the welcome). */
  connected?(s: SessionRef): void;
  /** An active session ended; `code` is the close code the server chose, else the peer's. */
  disconnected?(s: SessionRef, code: number, reason: string): void;
  /** The user's first device in the whole cluster came online. */
  online?(tenant: string, user: string, s: SessionRef): void;
  /** The user's last device in the whole cluster went away. */
  offline?(tenant: string, user: string, reason: OfflineReason, s: SessionRef | undefined): void;
  joined?(s: SessionRef, room: string): void;
  left?(s: SessionRef, room: string): void;
  /** A client published to a room; `data` is the JSON text members receive. */
  published?(s: SessionRef, room: string, messageId: string, data: string, event: string | undefined): void;
  /** A reliable message was written to a device; `replay` when it came from the inbox, not live. */
  delivered?(s: SessionRef, m: InboxMessage, replay: boolean): void;
  /**
   * A cumulative ack covered `count` reliable messages written to this device. `messages` lists
   * them when any listener set `wantsAckedMessages`, else it is undefined.
   */
  acked?(s: SessionRef, count: number, messages: readonly AckedMessage[] | undefined): void;
  /** Unacked messages were written again (`count` of them) after an ack timeout. */
  retried?(s: SessionRef, count: number): void;
  /** Reliable messages skipped because their ttl ran out before delivery. */
  expired?(s: SessionRef, count: number): void;
  /** Ask for the (seq, id) list in `acked`: costs a small map per device with messages in flight. */
  readonly wantsAckedMessages?: boolean;
}

type Kind = Exclude<keyof LifecycleListener, 'wantsAckedMessages'>;

const KINDS: readonly Kind[] = ['connected', 'disconnected', 'online', 'offline', 'joined', 'left', 'published', 'delivered', 'acked', 'retried', 'expired'];

/**
 * Each emitter loops over its own kind's list and calls the method directly: no argument array
 * and no `apply` per event, and an indexed loop rather than `for…of`, which creates an array
 * iterator and calls its `next` per listener until the emitter is optimized (issue 20:
 * `delivered` and `acked` run once per reliable message).
 */
export class LifecycleEvents {
  private readonly byKind: { readonly [K in Kind]: LifecycleListener[] } = {
    connected: [], disconnected: [], online: [], offline: [], joined: [], left: [], published: [], delivered: [], acked: [], retried: [], expired: [],
  };
  /** True once a listener wants the acked messages listed: reliable streams then keep seq → id. */
  wantsAckedMessages = false;

  /** Adds a listener; returns a function that removes it. */
  add(listener: LifecycleListener): () => void {
    for (const k of KINDS) if (typeof listener[k] === 'function') this.byKind[k].push(listener);
    if (listener.wantsAckedMessages) this.wantsAckedMessages = true;
    return () => {
      for (const k of KINDS) {
        const list = this.byKind[k];
        const i = list.indexOf(listener);
        if (i >= 0) list.splice(i, 1);
      }
      this.wantsAckedMessages = this.byKind.acked.some((l) => l.wantsAckedMessages === true);
    };
  }

  /** Whether anyone listens to `kind`: lets a caller skip work that only feeds the event. */
  has(kind: Kind): boolean {
    return this.byKind[kind].length > 0;
  }

  connected(s: SessionRef): void {
    const list = this.byKind.connected;
    for (let i = 0; i < list.length; i++) list[i]!.connected!(s);
  }
  disconnected(s: SessionRef, code: number, reason: string): void {
    const list = this.byKind.disconnected;
    for (let i = 0; i < list.length; i++) list[i]!.disconnected!(s, code, reason);
  }
  online(tenant: string, user: string, s: SessionRef): void {
    const list = this.byKind.online;
    for (let i = 0; i < list.length; i++) list[i]!.online!(tenant, user, s);
  }
  offline(tenant: string, user: string, reason: OfflineReason, s: SessionRef | undefined): void {
    const list = this.byKind.offline;
    for (let i = 0; i < list.length; i++) list[i]!.offline!(tenant, user, reason, s);
  }
  joined(s: SessionRef, room: string): void {
    const list = this.byKind.joined;
    for (let i = 0; i < list.length; i++) list[i]!.joined!(s, room);
  }
  left(s: SessionRef, room: string): void {
    const list = this.byKind.left;
    for (let i = 0; i < list.length; i++) list[i]!.left!(s, room);
  }
  published(s: SessionRef, room: string, messageId: string, data: string, event: string | undefined): void {
    const list = this.byKind.published;
    for (let i = 0; i < list.length; i++) list[i]!.published!(s, room, messageId, data, event);
  }
  delivered(s: SessionRef, m: InboxMessage, replay: boolean): void {
    const list = this.byKind.delivered;
    for (let i = 0; i < list.length; i++) list[i]!.delivered!(s, m, replay);
  }
  acked(s: SessionRef, count: number, messages: readonly AckedMessage[] | undefined): void {
    const list = this.byKind.acked;
    for (let i = 0; i < list.length; i++) list[i]!.acked!(s, count, messages);
  }
  retried(s: SessionRef, count: number): void {
    const list = this.byKind.retried;
    for (let i = 0; i < list.length; i++) list[i]!.retried!(s, count);
  }
  expired(s: SessionRef, count: number): void {
    const list = this.byKind.expired;
    for (let i = 0; i < list.length; i++) list[i]!.expired!(s, count);
  }
}
