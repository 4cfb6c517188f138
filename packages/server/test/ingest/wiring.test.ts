/**
 * The NATS JetStream and PostgreSQL outbox sources as a node runs them: turned
 * on by config alone (ingestNatsUrl, ingestPgUrl) through createIngestSources,
 * beside the Redis stream source on the Redis engine. Each entry reaches a
 * connected device once; /readyz and /metrics show every source; a graceful
 * close stops the sources before it closes the clients.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { connect as natsConnect, type JetStreamManager, type NatsConnection } from 'nats';
import pg from 'pg';
import type { Redis } from 'ioredis';
import type { HeraldNode } from '../../src/node.js';
import { connect, startNode, type TestClient } from '../helpers/harness.js';
import { SHARED_REDIS_URL, deleteKeys, sharedRedis, testPrefix, waitFor } from '../helpers/redisServer.js';
import { TENANT, entry, range, stored } from '../helpers/ingestNodes.js';

const NATS_URL = process.env.HERALD_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';
const PG_URL = process.env.HERALD_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

let nc: NatsConnection;
let jsm: JetStreamManager;
let db: pg.Client;
let admin: Redis;
const id = randomBytes(5).toString('hex');
const stream = `HERALD_WIRING_${id}`;
const subject = `herald.wiring.${id}`;
const table = `herald_outbox_w${id}`;
const prefix = testPrefix();
const nodes: HeraldNode[] = [];
const clients: TestClient[] = [];

before(async () => {
  nc = await natsConnect({ servers: NATS_URL, timeout: 5_000 });
  jsm = await nc.jetstreamManager({ timeout: 5_000 });
  db = new pg.Client({ connectionString: PG_URL });
  await db.connect();
  ({ client: admin } = await sharedRedis());
});

after(async () => {
  for (const c of clients) c.close();
  await Promise.all(nodes.map((n) => n.close()));
  // Stopped by close() already; again in case the test failed before, so nothing holds the table.
  await Promise.all(nodes.flatMap((n) => n.ingest.map((s) => s.stop().catch(() => {}))));
  for (const s of [stream, `${stream}_DEAD`]) await jsm.streams.delete(s).catch(() => {});
  await db.query(`DROP TABLE IF EXISTS "${table}", "${table}_dead"`);
  await db.query(`DROP FUNCTION IF EXISTS "${table}_notify"()`);
  await db.end();
  await nc.drain();
  await deleteKeys(admin, prefix);
  admin.disconnect();
});

function re(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** The value of `metric` for one source in a Prometheus text page, or undefined. */
function series(page: string, metric: string, kind: string, name: string): number | undefined {
  const m = new RegExp(`^${metric}\\{[^}]*kind="${kind}",name="${re(name)}"[^}]*\\} (\\S+)$`, 'm').exec(page);
  return m ? Number(m[1]) : undefined;
}

test('a node started with ingestNatsUrl and ingestPgUrl consumes both beside the Redis stream: each entry delivered once, /readyz, /metrics, stopped first on close', { timeout: 120_000 }, async () => {
  const n = await startNode({
    engine: 'redis',
    redisUrl: SHARED_REDIS_URL,
    redisKeyPrefix: prefix,
    ingestNatsUrl: NATS_URL,
    ingestNatsStream: stream,
    ingestNatsSubject: subject,
    ingestPgUrl: PG_URL,
    ingestPgTable: table,
    // NOTIFY must do the waking, not the poll.
    ingestPgPollMs: 60_000,
  });
  nodes.push(n);
  const natsName = `${stream}/${subject}`;
  assert.deepEqual(
    n.ingest.map((s) => [s.kind, s.name]),
    [
      ['redis', `${prefix}ingest`],
      ['nats', natsName],
      ['pg', table],
    ],
  );

  const dev = await connect(n, 'wanda', { tenant: TENANT, device: 'd' });
  clients.push(dev);
  const N = 20;
  const js = nc.jetstream();
  for (const i of range(N)) await js.publish(subject, JSON.stringify(entry('wanda', i, { via: 'nats' })));
  // The producer's own transaction, as a backend writes its outbox rows.
  await db.query('BEGIN');
  for (const i of range(N)) await db.query(`INSERT INTO "${table}"(payload) VALUES ($1)`, [entry('wanda', 1000 + i, { via: 'pg' })]);
  await db.query('COMMIT');

  await dev.waitForCount((f) => f.type === 'message', 2 * N, 60_000, 'every entry delivered');
  const [, nats, pgSrc] = n.ingest;
  await waitFor('both sources acknowledged every entry', () => nats!.stats().consumed === N && pgSrc!.stats().consumed === N, 30_000);
  const want = [...range(N), ...range(N).map((i) => 1000 + i)];
  const got = dev.messages().map((f) => (f.data as { n: number }).n);
  assert.deepEqual([...got].sort((a, b) => a - b), want, 'each entry delivered once');
  assert.equal(new Set(dev.messages().map((f) => f.seq)).size, 2 * N, 'one seq per entry');
  const s = await stored(n, 'wanda');
  assert.deepEqual([...s.ns].sort((a, b) => a - b), want, 'each entry stored once');
  assert.equal(s.tip, 2 * N);
  // Consumed: nothing left in the stream or the table.
  assert.equal((await jsm.streams.info(stream)).state.messages, 0);
  assert.equal((await db.query<{ c: number }>(`SELECT count(*)::int AS c FROM "${table}"`)).rows[0]!.c, 0);

  const ready = (await (await fetch(n.url + '/readyz')).json()) as { ready: boolean; ingest: { kind: string; name: string; connected: boolean }[] };
  assert.equal(ready.ready, true);
  assert.deepEqual(
    ready.ingest.map((r) => [r.kind, r.name, r.connected]),
    [
      ['redis', `${prefix}ingest`, true],
      ['nats', natsName, true],
      ['pg', table, true],
    ],
  );

  await waitFor('lag read after the last entry', () => nats!.stats().lag === 0 && pgSrc!.stats().lag === 0, 30_000);
  const page = await (await fetch(n.url + '/metrics')).text();
  for (const [kind, name] of [
    ['nats', natsName],
    ['pg', table],
  ] as const) {
    assert.equal(series(page, 'herald_ingest_source_connected', kind, name), 1, `${kind} connected`);
    assert.equal(series(page, 'herald_ingest_source_consumed_total', kind, name), N, `${kind} consumed`);
    // A counter still at 0 has no series yet (metrics.ts readCounter).
    assert.equal(series(page, 'herald_ingest_source_dead_lettered_total', kind, name) ?? 0, 0, `${kind} dead-lettered`);
    assert.equal(series(page, 'herald_ingest_source_redelivered_total', kind, name) ?? 0, 0, `${kind} redelivered`);
    assert.equal(series(page, 'herald_ingest_source_lag_entries', kind, name), 0, `${kind} lag`);
  }

  // Graceful close: every source is stopped (its stop() resolved) while the device is still connected.
  const order: string[] = [];
  for (const src of n.ingest) {
    const stop = src.stop.bind(src);
    Object.assign(src, {
      stop: async () => {
        await stop();
        order.push(`${src.kind} stopped, client ${dev.closed ? 'closed' : 'open'}`);
      },
    });
  }
  await n.close();
  assert.deepEqual([...order].sort(), ['nats stopped, client open', 'pg stopped, client open', 'redis stopped, client open']);
  assert.equal(dev.closed?.code, 1001);
  assert.equal(nats!.stats().connected, false);
  assert.equal(pgSrc!.stats().connected, false);
  // Stopped for good: what is produced now stays in the stream and the table.
  await js.publish(subject, JSON.stringify(entry('wanda', 99)));
  await db.query(`INSERT INTO "${table}"(payload) VALUES ($1)`, [entry('wanda', 1099)]);
  assert.equal((await jsm.streams.info(stream)).state.messages, 1);
  assert.equal((await db.query<{ c: number }>(`SELECT count(*)::int AS c FROM "${table}"`)).rows[0]!.c, 1);
});
