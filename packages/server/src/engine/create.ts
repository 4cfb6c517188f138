/** Builds the configured engine. The Redis engine is loaded only when chosen. */
import type { HeraldConfig } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import type { Engine } from './types.js';
import { MemoryEngine } from './memory/memoryEngine.js';

export async function createEngine(config: HeraldConfig, nodeId: string, log: Logger): Promise<Engine> {
  if (config.engine === 'memory') return new MemoryEngine({ maxStoredBytes: config.memoryMaxStoredBytes });
  const specifier = './redis/redisEngine.js';
  const mod = (await import(specifier)) as {
    RedisEngine: new (o: { url: string; keyPrefix: string; nodeId: string; logger: Logger; presence: { heartbeatMs: number; nodeTtlMs: number } }) => Engine;
  };
  return new mod.RedisEngine({
    url: config.redisUrl,
    keyPrefix: config.redisKeyPrefix,
    nodeId,
    logger: log.child({ component: 'redis' }),
    // A heartbeat must fit a few times in the TTL, or a live node looks dead between two beats.
    presence: { heartbeatMs: Math.min(config.nodeHeartbeatMs, Math.floor(config.nodeTtlMs / 3)), nodeTtlMs: config.nodeTtlMs },
  });
}
