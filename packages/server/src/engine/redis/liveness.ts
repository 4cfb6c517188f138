/**
 * Node incarnations and their death, for every node (engine/types.ts
 * `NodeLiveness`). An incarnation is `<boot id>:<node id>` — the liveness key
 * `node:{id}` holds the boot id of the node's current process (presence.ts).
 * A watched incarnation is dead once that key is gone or names another boot:
 * checked every heartbeat with one GET per watched node (the nodes a node
 * relayed something from, not its connections), so a crashed node is found
 * within nodeTtlMs + heartbeatMs — the bound of presence and of the reaper.
 * Unlike the reaper (one node claims the dead incarnation), every watcher
 * learns of it: each clears what it alone relayed.
 */
import type { Cluster, Redis } from 'ioredis';
import type { Logger } from '../../observability/logger.js';
import type { NodeLiveness } from '../types.js';
import type { RedisKeys } from './keys.js';

export class RedisLiveness implements NodeLiveness {
  readonly self: string;
  private readonly watched = new Set<string>();
  private readonly listeners: ((incarnation: string) => void)[] = [];
  private timer: NodeJS.Timeout | undefined;
  private checking = false;

  constructor(
    private readonly client: Redis | Cluster,
    private readonly keys: RedisKeys,
    me: { node: string; boot: string },
    private readonly heartbeatMs: number,
    private readonly logger: Logger,
  ) {
    this.self = me.boot + ':' + me.node;
  }

  start(): void {
    this.timer = setInterval(() => void this.check(), this.heartbeatMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  async incarnationOf(node: string): Promise<string | undefined> {
    if (node === nodeOf(this.self)) return this.self;
    const boot = await this.client.get(this.keys.nodeAlive(node));
    return boot === null ? undefined : boot + ':' + node;
  }

  watch(incarnation: string): void {
    if (incarnation !== this.self) this.watched.add(incarnation);
  }

  unwatch(incarnation: string): void {
    this.watched.delete(incarnation);
  }

  onGone(listener: (incarnation: string) => void): void {
    this.listeners.push(listener);
  }

  /** One pass over the watched incarnations (one at a time; a failed read decides nothing). */
  async check(): Promise<void> {
    if (this.checking || this.watched.size === 0) return;
    this.checking = true;
    try {
      const list = [...this.watched];
      const boots = await Promise.all(list.map((inc) => this.client.get(this.keys.nodeAlive(nodeOf(inc)))));
      list.forEach((inc, i) => {
        if (boots[i] === bootOf(inc) || !this.watched.delete(inc)) return;
        for (const l of this.listeners) {
          try {
            l(inc);
          } catch (err) {
            this.logger.error({ err: (err as Error).message }, 'node gone listener threw');
          }
        }
      });
    } catch (err) {
      this.logger.debug({ err: (err as Error).message }, 'node liveness check failed');
    } finally {
      this.checking = false;
    }
  }
}

function bootOf(incarnation: string): string {
  const i = incarnation.indexOf(':');
  return i < 0 ? incarnation : incarnation.slice(0, i);
}

function nodeOf(incarnation: string): string {
  return incarnation.slice(incarnation.indexOf(':') + 1);
}
