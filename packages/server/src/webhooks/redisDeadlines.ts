/**
 * Unacked deadlines shared by the cluster: a sorted set `webhooks:{deadlines}`
 * scored by due time. A node claims due members atomically (Lua) by moving
 * them to a second set scored by the claim's expiry; after handling one it
 * removes it. A claim whose node died expires and is claimed again by
 * another node, so a deadline fires once — or, after a crash mid-way, again
 * with the same event id (receivers dedupe).
 */
import { closeClient, connectClient, createClient, type RedisClient } from '../redis/connect.js';
import type { Logger } from '../observability/logger.js';
import { decodeDeadline, encodeDeadline, type Deadline, type DeadlineStore } from './deadlines.js';

const CLAIM = `
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
local stale = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
local out = {}
for _, m in ipairs(due) do
  redis.call('ZREM', KEYS[1], m)
  redis.call('ZADD', KEYS[2], ARGV[3], m)
  out[#out + 1] = m
end
for _, m in ipairs(stale) do
  redis.call('ZADD', KEYS[2], ARGV[3], m)
  out[#out + 1] = m
end
return out`;

export class RedisDeadlines implements DeadlineStore {
  private readonly client: RedisClient;
  private readonly waiting: string;
  private readonly claimed: string;

  constructor(
    url: string,
    prefix: string,
    nodeId: string,
    logger: Logger,
    private readonly claimMs = 60_000,
  ) {
    this.client = createClient(url, { name: `herald:${nodeId}:deadlines`, logger });
    // One hash tag: the claim script moves members between the two sets atomically (Cluster: one slot).
    this.waiting = `${prefix}webhooks:{deadlines}:due`;
    this.claimed = `${prefix}webhooks:{deadlines}:claimed`;
  }

  async start(): Promise<void> {
    await connectClient(this.client, 10_000, 'unacked deadlines');
  }

  async stop(): Promise<void> {
    await closeClient(this.client);
  }

  async add(d: Deadline): Promise<void> {
    await this.client.zadd(this.waiting, d.at, encodeDeadline(d));
  }

  async due(now: number, max: number): Promise<Deadline[]> {
    if (this.client.status !== 'ready') return [];
    const got = (await this.client.eval(CLAIM, 2, this.waiting, this.claimed, now, max, now + this.claimMs)) as string[];
    return got.map(decodeDeadline).filter((d): d is Deadline => d !== undefined);
  }

  async settle(d: Deadline): Promise<void> {
    await this.client.zrem(this.claimed, encodeDeadline(d));
  }

  async size(): Promise<number> {
    const [a, b] = await Promise.all([this.client.zcard(this.waiting), this.client.zcard(this.claimed)]);
    return a + b;
  }
}
