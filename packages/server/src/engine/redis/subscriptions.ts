/**
 * The node's pub/sub interest on one dedicated subscriber connection.
 *
 * The node calls add/remove as local interest starts and ends — thousands of
 * times a second when many users connect at once. Changes are coalesced and
 * sent once per tick as one SUBSCRIBE and one UNSUBSCRIBE with many channels
 * (an add and a remove of the same channel within a tick cancel out).
 *
 * Standalone/Sentinel: the set of channels wanted is kept here, not in
 * ioredis (autoResubscribe is off), because after a reconnect the server has
 * forgotten every subscription: on 'ready' the whole wanted set is sent again
 * and `synced` turns true once Redis confirmed it, which is what isReady()
 * reports. Cluster: sharded pub/sub (SSUBSCRIBE), batched per slot because
 * one SSUBSCRIBE may only name channels of one slot; ioredis' sharded
 * subscriber group resubscribes after topology changes itself.
 */
import type { Cluster, Redis } from 'ioredis';
import type { Logger } from '../../observability/logger.js';
import { clusterSlot } from './slot.js';

/** Channels per SUBSCRIBE command: keeps one command (and its reply) of bounded size. */
const CHUNK = 1000;
/** Least time between two resyncs after ioredis restored sharded subscriptions (see constructor). */
const CLUSTER_RESYNC_MS = 10_000;

export class ChannelSubscriptions {
  private readonly wanted = new Set<string>();
  /** Channels subscribed on the current connection (as far as we sent them). */
  private readonly active = new Set<string>();
  /** Channels whose UNSUBSCRIBE is sent but not confirmed: still in `active`, yet about to stop. */
  private readonly leaving = new Set<string>();
  /** Channels added or removed since the last flush: a flush looks at these only, not at every channel. */
  private readonly dirty = new Set<string>();
  private scheduled = false;
  private synced = false;
  private closed = false;
  private flushing: Promise<void> = Promise.resolve();
  /** The scheduled flush (while `scheduled`): what add() returns. */
  private nextFlush: Promise<void> = Promise.resolve();
  private readonly onResyncListeners: (() => void)[] = [];
  private readonly onConfirmedListeners: ((channels: string[]) => void)[] = [];
  private connectedOnce = false;
  private retryMs = 0;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly client: Redis | Cluster,
    private readonly sharded: boolean,
    private readonly logger: Logger,
  ) {
    client.on('ready', () => this.onReady());
    if (sharded) {
      // ioredis re-subscribes sharded channels itself after a topology change (failover, resharding)
      // and then says so: treat it like our own resubscribe after a reconnect.
      // It fires again at every slot refresh while a shard is unreachable: at most one resync per
      // CLUSTER_RESYNC_MS, and always one after the last event.
      let last = 0;
      let pending: NodeJS.Timeout | undefined;
      const resync = (): void => {
        pending = undefined;
        last = Date.now();
        if (this.closed) return;
        this.logger.info({ channels: this.wanted.size }, 'redis sharded subscriptions restored');
        for (const l of this.onConfirmedListeners) l([...this.wanted]);
        for (const l of this.onResyncListeners) l();
      };
      client.on('subscribersReady', () => {
        if (!this.connectedOnce || this.closed || pending) return;
        pending = setTimeout(resync, Math.max(0, last + CLUSTER_RESYNC_MS - Date.now()));
        pending.unref();
      });
    }
    client.on('close', () => {
      // The server drops every subscription with the connection.
      if (!this.sharded) this.active.clear();
      this.synced = false;
    });
  }

  /** Called after a reconnect once every wanted channel is subscribed again: events in between may have been missed. */
  onResync(listener: () => void): void {
    this.onResyncListeners.push(listener);
  }

  /** Called with channels that became subscribed on the current connection (new interest, or restored after a reconnect). */
  onConfirmed(listener: (channels: string[]) => void): void {
    this.onConfirmedListeners.push(listener);
  }

  isSynced(): boolean {
    return this.synced;
  }

  /**
   * Resolves once the channel is subscribed on Redis (at once when it already
   * is): a node that awaits it before reading the inbox for a replay cannot
   * miss a message published in between.
   */
  add(channel: string): Promise<void> {
    this.wanted.add(channel);
    // Not while its UNSUBSCRIBE is in flight: that is about to end it (the next flush subscribes again).
    if (this.active.has(channel) && this.synced && !this.leaving.has(channel)) return Promise.resolve();
    this.dirty.add(channel);
    return this.schedule();
  }

  remove(channel: string): void {
    this.wanted.delete(channel);
    this.dirty.add(channel);
    void this.schedule();
  }

  /** Wanted channels (for tests and metrics). */
  size(): number {
    return this.wanted.size;
  }

  /** Resolves once every change requested so far has been sent and confirmed (or failed). */
  async flushed(): Promise<void> {
    if (this.scheduled) await this.nextFlush;
    await this.flushing;
  }

  close(): void {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
  }

  /**
   * Schedules a flush; resolves once it (and every flush before it) is done. The channels added
   * before it runs share one promise (issue 20: not an async wait and a setImmediate per add,
   * which lived across the round trip and were promoted to old space during a connect burst).
   */
  private schedule(): Promise<void> {
    if (this.closed) return this.flushing;
    if (this.scheduled) return this.nextFlush;
    this.scheduled = true;
    this.nextFlush = new Promise<void>((resolve) => {
      // setImmediate, not queueMicrotask: a burst of connections handled in one I/O phase lands in one batch.
      setImmediate(() => {
        this.scheduled = false;
        this.flushing = this.flushing.then(() => this.flush());
        // Never rejects (subscribe()'s contract; remove() does not wait on it).
        resolve(this.flushing.catch(() => {}));
      });
    });
    return this.nextFlush;
  }

  private onReady(): void {
    const again = this.connectedOnce;
    this.connectedOnce = true;
    if (!this.sharded) this.active.clear();
    // A new connection has none of our channels: every wanted one is to be sent again.
    for (const c of this.wanted) this.dirty.add(c);
    this.flushing = this.flushing.then(async () => {
      await this.flush();
      if (this.client.status !== 'ready') return;
      this.synced = true;
      if (again) {
        this.logger.info({ channels: this.wanted.size }, 'redis subscriptions restored');
        for (const l of this.onResyncListeners) l();
      }
    });
  }

  private async flush(): Promise<void> {
    if (this.closed || this.client.status !== 'ready') return;
    // Only what changed since the last flush: a connect storm costs O(changes), not O(channels) per batch.
    const changed = [...this.dirty];
    this.dirty.clear();
    const add: string[] = [];
    const del: string[] = [];
    for (const c of changed) {
      if (this.wanted.has(c)) {
        if (!this.active.has(c)) add.push(c);
      } else if (this.active.has(c)) del.push(c);
    }
    if (add.length === 0 && del.length === 0) return;
    // Leaving from now on, not only once their UNSUBSCRIBE is on the wire: it is sent after this
    // flush's SUBSCRIBEs (and earlier chunks), and interest that comes back meanwhile must not
    // count the channel as active — add() would resolve at once and the UNSUBSCRIBE then end it
    // for good (found by the soak: a Redis stall held a storm's SUBSCRIBE, a device lost a message).
    for (const c of del) this.leaving.add(c);
    // `active` follows confirmed chunks only, so a failure leaves it exact for the next attempt.
    // Listeners hear of confirmed chunks when the flush ends, right before the callers waiting for it
    // go on (reannounce.ts relies on that order: the connects that waited come first).
    const confirmed: string[][] = [];
    try {
      for (const group of this.groups(add)) {
        await this.send('sub', group);
        for (const c of group) this.active.add(c);
        confirmed.push(group);
      }
      for (const group of this.groups(del)) {
        await this.send('unsub', group);
        for (const c of group) this.active.delete(c);
      }
      this.retryMs = 0;
    } catch (err) {
      // Whatever was not confirmed is looked at again on the retry.
      for (const c of changed) this.dirty.add(c);
      // Retried with backoff (and after a reconnect, onReady sends the whole set again anyway).
      this.retryMs = Math.min(5_000, this.retryMs === 0 ? 100 : this.retryMs * 2);
      this.logger.warn({ err: (err as Error).message, retryInMs: this.retryMs }, 'redis subscribe failed; retrying');
      if (!this.retryTimer && !this.closed) {
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined;
          void this.schedule();
        }, this.retryMs);
        this.retryTimer.unref();
      }
    } finally {
      // Confirmed ones are out of `active` by now; failed ones are retried (dirty) from `active` as it is.
      for (const c of del) this.leaving.delete(c);
      for (const group of confirmed) for (const l of this.onConfirmedListeners) l(group);
    }
  }

  private groups(channels: string[]): string[][] {
    const out: string[][] = [];
    if (!this.sharded) {
      for (let i = 0; i < channels.length; i += CHUNK) out.push(channels.slice(i, i + CHUNK));
      return out;
    }
    const bySlot = new Map<number, string[]>();
    for (const c of channels) {
      const s = clusterSlot(c);
      let g = bySlot.get(s);
      if (!g) bySlot.set(s, (g = []));
      g.push(c);
    }
    for (const g of bySlot.values()) for (let i = 0; i < g.length; i += CHUNK) out.push(g.slice(i, i + CHUNK));
    return out;
  }

  private async send(op: 'sub' | 'unsub', channels: string[]): Promise<void> {
    if (this.sharded) {
      if (op === 'sub') await this.client.ssubscribe(...channels);
      else await this.client.sunsubscribe(...channels);
    } else if (op === 'sub') await this.client.subscribe(...channels);
    else await this.client.unsubscribe(...channels);
  }
}
