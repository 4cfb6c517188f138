/**
 * `@herald/server/internal`: the node's parts for tests, benchmarks and tools.
 * No stability promise: these follow the code (docs/architecture.md).
 */
export { startHerald, type HeraldNode, type StartOptions } from './node.js';
export { configSchema } from './config/schema.js';
export { Gateway } from './gateway/gateway.js';
export { DeliveryHub } from './delivery/hub.js';
export { Registry } from './delivery/registry.js';
export { ReliableStream, type ReliableHost, type StreamSink } from './delivery/reliableStream.js';
export { Publisher } from './delivery/publisher.js';
export { LifecycleEvents } from './events/lifecycle.js';
export { MemoryEngine } from './engine/memory/memoryEngine.js';
export { RedisEngine } from './engine/redis/redisEngine.js';
export { createEngine } from './engine/create.js';
export type * from './engine/types.js';
export { TimingWheel, TimerEntry } from './runtime/timingWheel.js';
export { Stats } from './observability/stats.js';
export { Metrics } from './observability/metrics.js';
export { LIMIT_NAMES, AUTH_FAILURE_REASONS } from './observability/labels.js';
