/** Builds the configured engine. The Redis engine is loaded only when chosen. */
import type { HeraldConfig } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import type { Engine } from './types.js';
import { MemoryEngine } from './memory/memoryEngine.js';
import { createPayloadCodec, type PayloadCodec } from './payloadCodec.js';

export async function createEngine(config: HeraldConfig, nodeId: string, log: Logger): Promise<Engine> {
  const payloadCodec = createPayloadCodec({ codec: config.storageCompression, thresholdBytes: config.storageCompressThresholdBytes });
  if (config.engine === 'memory') return new MemoryEngine({ maxStoredBytes: config.memoryMaxStoredBytes, payloadCodec, roomHistoryMaxTotalBytes: config.roomHistoryMaxTotalBytes });
  const specifier = './redis/redisEngine.js';
  const mod = (await import(specifier)) as {
    RedisEngine: new (o: { url: string; keyPrefix: string; nodeId: string; logger: Logger; payloadCodec: PayloadCodec; presence: { heartbeatMs: number; nodeTtlMs: number } }) => Engine;
  };
  return new mod.RedisEngine({
    url: config.redisUrl,
    keyPrefix: config.redisKeyPrefix,
    nodeId,
    logger: log.child({ component: 'redis' }),
    payloadCodec,
    // A heartbeat must fit a few times in the TTL, or a live node looks dead between two beats.
    presence: { heartbeatMs: Math.min(config.nodeHeartbeatMs, Math.floor(config.nodeTtlMs / 3)), nodeTtlMs: config.nodeTtlMs },
  });
}
