/**
 * Child process of the ingest kill -9 tests (see startIngestChild): a Herald
 * node plus one ingest source from its `fromConfig`, wired to the node's publish
 * pipeline. Prints `ready` once consuming, `published <n>` after each publish
 * resolved, and after the INGEST_CHILD_HANG_AFTER-th one prints `stored` and
 * never returns, so the entry is stored but never acknowledged.
 */
import { startHerald } from '../../src/node.js';
import type { IngestPublish, IngestSource } from '../../src/ingest/source.js';

const kind = process.env.INGEST_CHILD_KIND;
const config = JSON.parse(process.env.INGEST_CHILD_CONFIG ?? '{}') as Record<string, unknown>;
const hangAfter = Number(process.env.INGEST_CHILD_HANG_AFTER ?? '0');

// The node itself runs no NATS or PostgreSQL source (its config would start one through
// createIngestSources, which never hangs): the one under test is built below from the full config.
const { ingestNatsUrl, ingestPgUrl, ...nodeConfig } = config;
const node = await startHerald(nodeConfig);
let published = 0;
const publish: IngestPublish = async (body) => {
  await node.publisher.publishUnknown(body);
  published++;
  process.stdout.write(`published ${published}\n`);
  if (published === hangAfter) {
    process.stdout.write('stored\n');
    await new Promise(() => {}); // the crash comes before the ack
  }
};
const mod = kind === 'nats' ? await import('../../src/ingest/natsSource.js') : await import('../../src/ingest/pgSource.js');
const source: IngestSource | undefined = mod.fromConfig({ ...node.config, ingestNatsUrl, ingestPgUrl } as typeof node.config, publish, node.log, node.nodeId);
if (!source) throw new Error(`no ${kind} source configured`);
await source.start();
process.stdout.write('ready\n');
