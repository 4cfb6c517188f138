/**
 * Builds the ingest sources a node's config asks for (docs/ingest.md). One builder
 * per kind: each returns its source when its config turns it on, else undefined.
 * A new kind is one line in BUILDERS. Client libraries are imported only when their
 * source is configured.
 */
import type { HeraldConfig } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import type { EngineStats } from '../engine/types.js';
import type { IngestPublish, IngestSource, IngestSourceStats } from './source.js';

export interface IngestBuildContext {
  config: HeraldConfig;
  publish: IngestPublish;
  logger: Logger;
  nodeId: string;
}

type IngestBuilder = (ctx: IngestBuildContext) => Promise<IngestSource | undefined>;

const redis: IngestBuilder = async ({ config, publish, logger, nodeId }) => {
  if (config.engine !== 'redis' || !config.ingestEnabled) return undefined;
  const { RedisStreamSource } = await import('./redisSource.js');
  return new RedisStreamSource({
    url: config.redisUrl,
    keyPrefix: config.redisKeyPrefix,
    ...(config.ingestStream ? { stream: config.ingestStream } : {}),
    consumer: nodeId,
    logger,
    claimIdleMs: config.ingestClaimIdleMs,
    maxDeliveries: config.ingestMaxDeliveries,
    publish,
  });
};

const amqp: IngestBuilder = async ({ config, publish, logger, nodeId }) => {
  if (!config.ingestAmqpUrl) return undefined;
  const { AmqpSource } = await import('./amqpSource.js');
  const { RedisDeadMarks } = await import('./amqpDeadMarks.js');
  // The redis engine: marks shared by every node consuming the queue, kept across a node's crash.
  const deadMarks = config.engine === 'redis' ? RedisDeadMarks.fromUrl(config.redisUrl, config.redisKeyPrefix, config.ingestAmqpTimeoutMs, nodeId, logger) : undefined;
  return new AmqpSource({
    ...(deadMarks ? { deadMarks } : {}),
    url: config.ingestAmqpUrl,
    queue: config.ingestAmqpQueue,
    prefetch: config.ingestAmqpPrefetch,
    concurrency: config.ingestAmqpConcurrency,
    maxBytes: config.ingestAmqpMaxBytes,
    retryDelayMs: config.ingestAmqpRetryDelayMs,
    timeoutMs: config.ingestAmqpTimeoutMs,
    reconnectMaxMs: config.ingestAmqpReconnectMaxMs,
    nodeId,
    publish,
    logger,
  });
};

const nats: IngestBuilder = async ({ config, publish, logger, nodeId }) => {
  if (!config.ingestNatsUrl) return undefined;
  const { fromConfig } = await import('./natsSource.js');
  return fromConfig(config, publish, logger, nodeId);
};

const pg: IngestBuilder = async ({ config, publish, logger, nodeId }) => {
  if (!config.ingestPgUrl) return undefined;
  const { fromConfig } = await import('./pgSource.js');
  return fromConfig(config, publish, logger, nodeId);
};

/** One entry per kind, in start order. */
const BUILDERS: [kind: string, build: IngestBuilder][] = [
  ['redis', redis],
  ['amqp', amqp],
  ['nats', nats],
  ['pg', pg],
];

/** The sources `config` turns on (not started). */
export async function createIngestSources(config: HeraldConfig, publish: IngestPublish, logger: Logger, nodeId: string): Promise<IngestSource[]> {
  const ctx: IngestBuildContext = { config, publish, logger: logger.child({ component: 'ingest' }), nodeId };
  const out: IngestSource[] = [];
  for (const [, build] of BUILDERS) {
    const s = await build(ctx);
    if (s) out.push(s);
  }
  return out;
}

/** Starts every source; if one fails, stops the others and rethrows, so a failed start leaves nothing consuming. */
export async function startIngestSources(sources: readonly IngestSource[]): Promise<void> {
  const started = await Promise.allSettled(sources.map((s) => s.start()));
  const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (!failed) return;
  await Promise.allSettled(sources.map((s) => s.stop()));
  throw failed.reason;
}

/** One row per source: for /readyz, metrics and the admin page. */
export interface IngestSourceRow extends IngestSourceStats {
  kind: string;
  name: string;
}

export function ingestRows(sources: readonly IngestSource[]): IngestSourceRow[] {
  return sources.map((s) => ({ kind: s.kind, name: s.name, ...s.stats() }));
}

/** The Redis stream's engine-level series (herald_ingest_lag_seconds, …) when that source runs. */
export async function streamIngestStats(sources: readonly IngestSource[]): Promise<EngineStats> {
  const s = sources.find((x): x is IngestSource & { streamStats(): Promise<EngineStats> } => typeof (x as { streamStats?: unknown }).streamStats === 'function');
  return s ? s.streamStats() : {};
}
