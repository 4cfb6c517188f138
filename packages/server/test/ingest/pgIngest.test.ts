/**
 * PostgreSQL outbox ingest against the shared PostgreSQL (database `test`)
 * and Herald nodes on the shared Redis: exactly-once across two nodes, the
 * outbox written inside a producer's own transaction, bad rows moved to
 * `<table>_dead` with their reasons, a consuming node killed -9 between
 * store and commit, the connections cut through the fault proxy, stop() and
 * stats. Every test uses its own table and drops it afterwards.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import pg from 'pg';
import type { Redis } from 'ioredis';
import type { HeraldNode } from '../../src/node.js';
import { loadConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/observability/logger.js';
import { fromConfig, PgSource, type PgSourceOptions } from '../../src/ingest/pgSource.js';
import type { IngestPublish } from '../../src/ingest/source.js';
import { FaultProxy } from '../../../stress/src/faultProxy.js';
import { Rng } from '../../../stress/src/rng.js';
import { deleteKeys, sharedRedis, testPrefix, waitFor } from '../helpers/redisServer.js';
import { connect as wsConnect } from '../helpers/harness.js';
import { TENANT, entry, pipelineOf, range, redisNode, startIngestChild, stored } from '../helpers/ingestNodes.js';

const PG_URL = process.env.HERALD_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const logger = createLogger(process.env.HERALD_LOG_LEVEL ?? 'silent');

let db: pg.Client;
let admin: Redis;
const prefixes: string[] = [];
const tables: string[] = [];
const nodes: HeraldNode[] = [];
const sources: PgSource[] = [];
const cleanups: (() => Promise<unknown> | unknown)[] = [];

before(async () => {
  db = new pg.Client({ connectionString: PG_URL });
  await db.connect();
  ({ client: admin } = await sharedRedis());
});

after(async () => {
  await Promise.all(sources.map((s) => s.stop().catch(() => {})));
  for (const c of cleanups) await c();
  await Promise.all(nodes.map((n) => n.close()));
  for (const t of tables) {
    await db.query(`DROP TABLE IF EXISTS "${t}", "${t}_dead"`);
    await db.query(`DROP FUNCTION IF EXISTS "${t}_notify"()`);
  }
  await db.end();
  for (const p of prefixes) await deleteKeys(admin, p);
  admin.disconnect();
});

interface Names {
  table: string;
  prefix: string;
}

function names(): Names {
  const table = `herald_outbox_t${randomBytes(5).toString('hex')}`;
  tables.push(table);
  const prefix = testPrefix();
  prefixes.push(prefix);
  return { table, prefix };
}

async function node(prefix: string): Promise<HeraldNode> {
  const n = await redisNode(prefix);
  nodes.push(n);
  return n;
}

async function source(n: Names, publish: IngestPublish, nodeId: string, extra: Partial<PgSourceOptions> = {}): Promise<PgSource> {
  const s = new PgSource({
    url: PG_URL,
    table: n.table,
    batch: 16,
    concurrency: 1,
    pollMs: 60_000, // NOTIFY must do the waking: a test that relies on the poll says so
    retryDelayMs: 20,
    maxAttempts: 5,
    timeoutMs: 5_000,
    maxBodyBytes: 64 * 1024,
    maxJsonDepth: 32,
    publish,
    logger,
    nodeId,
    ...extra,
  });
  sources.push(s);
  await s.start();
  return s;
}

/** Inserts rows as a backend would (one multi-row INSERT per call). */
async function produce(table: string, payloads: unknown[]): Promise<string[]> {
  if (payloads.length === 0) return [];
  const values = payloads.map((_, i) => `($${i + 1}::jsonb)`).join(',');
  const r = await db.query<{ id: string }>(`INSERT INTO "${table}"(payload) VALUES ${values} RETURNING id::text AS id`, payloads.map((p) => JSON.stringify(p)));
  return r.rows.map((row) => row.id);
}

async function rowCount(table: string): Promise<number> {
  return (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${table}"`)).rows[0]!.n;
}

test('N rows through two nodes (one publishing 4 at once): each stored once (one seq per entry), delivered once, deleted', { timeout: 60_000 }, async () => {
  const n = names();
  const [a, b] = [await node(n.prefix), await node(n.prefix)];
  const user = 'u-two-nodes';
  const client = await wsConnect(a, user, { tenant: TENANT });
  const sa = await source(n, pipelineOf(a), 'node-a');
  const sb = await source(n, pipelineOf(b), 'node-b', { concurrency: 4 }); // unordered, several at once
  const N = 200;
  // Many small inserts, so both nodes are woken and claim concurrently (SKIP LOCKED).
  for (let i = 0; i < N; i += 5) await produce(n.table, range(5).map((k) => entry(user, i + k)));
  await waitFor(`${N} consumed`, () => sa.stats().consumed + sb.stats().consumed === N, 30_000);
  const s = await stored(a, user);
  assert.deepEqual([...s.ns].sort((x, y) => x - y), range(N), 'every row stored exactly once');
  assert.deepEqual(s.seqs, range(N).map((i) => i + 1), 'one seq per entry');
  assert.equal(s.tip, N);
  assert.ok(sa.stats().consumed > 0 && sb.stats().consumed > 0, `both nodes consumed (a=${sa.stats().consumed}, b=${sb.stats().consumed})`);
  assert.equal(await rowCount(n.table), 0, 'outbox emptied');
  await client.waitFor(() => client.frames.filter((f) => f.type === 'message').length >= N, 10_000, 'N messages on the device');
  const got = client.frames.filter((f) => f.type === 'message').map((f) => (f.data as { n: number }).n);
  assert.equal(new Set(got).size, N);
  assert.equal(got.length, N, 'each delivered once');
  client.ws.close();
});

test('the outbox row is part of the producer transaction: rolled back → never pushed; committed → pushed', { timeout: 30_000 }, async () => {
  const n = names();
  const a = await node(n.prefix);
  const user = 'u-tx';
  const s = await source(n, pipelineOf(a), 'node-tx');
  const orders = `orders_${n.table}`;
  tables.push(orders);
  await db.query(`CREATE TABLE "${orders}" (id serial primary key, item text)`);
  // The backend's own transaction: its write and the outbox row commit (or vanish) together.
  await db.query('BEGIN');
  await db.query(`INSERT INTO "${orders}"(item) VALUES ('lost')`);
  await db.query(`INSERT INTO "${n.table}"(payload) VALUES ($1)`, [JSON.stringify(entry(user, 0))]);
  await db.query('ROLLBACK');
  await db.query('BEGIN');
  await db.query(`INSERT INTO "${orders}"(item) VALUES ('kept')`);
  await db.query(`INSERT INTO "${n.table}"(payload) VALUES ($1)`, [JSON.stringify(entry(user, 1))]);
  await db.query('COMMIT');
  await waitFor('committed row consumed', () => s.stats().consumed === 1);
  assert.deepEqual((await stored(a, user)).ns, [1]);
});

test('a node starting while a producer transaction is open on the outbox does not wait for it', { timeout: 30_000 }, async () => {
  const n = names();
  const a = await node(n.prefix);
  const user = 'u-open-tx';
  await source(n, async () => {}, 'node-first').then((s) => s.stop());
  const producer = new pg.Client({ connectionString: PG_URL });
  await producer.connect();
  cleanups.push(() => producer.end());
  await producer.query('BEGIN');
  await producer.query(`INSERT INTO "${n.table}"(payload) VALUES ($1)`, [JSON.stringify(entry(user, 0))]);
  // Anything taking a table lock at start (e.g. re-creating the trigger) would wait here and time out.
  const s = await source(n, pipelineOf(a), 'node-second', { timeoutMs: 1_000 });
  await producer.query('COMMIT');
  await waitFor('row consumed after the commit', () => s.stats().consumed === 1);
});

test('bad rows move to <table>_dead with the exact reason and their original id; good ones flow', { timeout: 60_000 }, async () => {
  const n = names();
  const a = await node(n.prefix);
  const user = 'u-dead';
  const inner = pipelineOf(a);
  let flakyCalls = 0;
  const publish: IngestPublish = async (body) => {
    if ((body as { data?: { flaky?: boolean } }).data?.flaky) {
      flakyCalls++;
      throw Object.assign(new Error('storage engine unavailable'), { status: 503 });
    }
    await inner(body);
  };
  const s = await source(n, publish, 'node-dead', { maxBodyBytes: 2_048, maxJsonDepth: 8, maxAttempts: 3 });
  const deep = JSON.parse('['.repeat(9) + ']'.repeat(9)) as unknown;
  const bad: [unknown, RegExp][] = [
    [{ to: { user }, data: 'x'.repeat(3_000) }, /^payload too large: \d+ bytes \(max 2048\)$/],
    [{ to: { user }, data: deep }, /^payload nests deeper than 8 levels$/],
    [{ to: { planet: 'mars' }, data: 1 }, /^rejected \(400\): to\./],
    [{ to: { user }, data: 1, colour: 'red' }, /^rejected \(400\): colour: unknown field$/],
    ['just a string', /^rejected \(400\): body: /],
    [entry(user, 99, { flaky: true }), /^failed 3 times \(max 3\) without success; last error: storage engine unavailable$/],
  ];
  const ids = await produce(n.table, [...bad.map(([b]) => b), entry(user, 1)]);
  await waitFor('every bad row dead', () => s.stats().deadLettered === bad.length, 30_000);
  await waitFor('the good one consumed', () => s.stats().consumed === 1);
  assert.deepEqual((await stored(a, user)).ns, [1]);
  assert.equal(flakyCalls, 3, 'a transient failure is retried up to maxAttempts');
  assert.equal(await rowCount(n.table), 0);
  const dead = await db.query<{ original_id: string; payload: string; reason: string; node: string }>(
    `SELECT original_id::text, payload, reason, node FROM "${n.table}_dead" ORDER BY original_id`,
  );
  assert.equal(dead.rows.length, bad.length);
  bad.forEach(([body, reason], i) => {
    const d = dead.rows.find((r) => r.original_id === ids[i]);
    assert.ok(d, `row ${ids[i]} moved`);
    assert.match(d.reason, reason, `reason of row ${i}`);
    assert.deepEqual(JSON.parse(d.payload), body, `row ${i} payload kept`);
    assert.equal(d.node, 'node-dead');
  });
  // The documented requeue works: the payload text goes back into the outbox as it was.
  await db.query(`INSERT INTO "${n.table}"(payload) SELECT payload::jsonb FROM "${n.table}_dead" WHERE original_id = $1`, [ids[2]]);
  await waitFor('requeued row dead again', () => s.stats().deadLettered === bad.length + 1);
});

test('a transient failure rolls the batch back and waits (backoff, no hot loop), then everything is stored once', { timeout: 30_000 }, async () => {
  const n = names();
  const a = await node(n.prefix);
  const user = 'u-retry';
  const inner = pipelineOf(a);
  let failures = 0;
  const times: number[] = [];
  const publish: IngestPublish = async (body) => {
    if ((body as { data: { n: number } }).data.n === 2 && failures < 3) {
      failures++;
      times.push(Date.now());
      throw Object.assign(new Error('storage engine unavailable'), { status: 503 });
    }
    await inner(body);
  };
  const s = await source(n, publish, 'node-retry', { retryDelayMs: 100, maxAttempts: 10 });
  await produce(n.table, range(5).map((i) => entry(user, i)));
  await waitFor('all consumed', () => s.stats().consumed === 5, 20_000);
  assert.equal(failures, 3);
  // Waits of 100 ms then 200 ms between the attempts.
  assert.ok(times[1]! - times[0]! >= 90, `first backoff ${times[1]! - times[0]!} ms`);
  assert.ok(times[2]! - times[1]! >= 190, `second backoff ${times[2]! - times[1]!} ms`);
  const st = await stored(a, user);
  assert.deepEqual(st.ns, range(5), 'rows 0 and 1 were published again after the rollback, and stored once');
  assert.equal(st.tip, 5);
  assert.ok(s.stats().redelivered >= 3 * 3, 'rows of the rolled-back batches count as redelivered');
  assert.equal(s.stats().deadLettered, 0);
});

test('kill -9 of a consuming node between store and commit: nothing lost, nothing stored twice', { timeout: 90_000 }, async () => {
  const n = names();
  const survivorNode = await node(n.prefix);
  const user = 'u-kill';
  const N = 60;
  const K = 20;
  // The child creates the table; the survivor starts once the child is dead.
  const child = startIngestChild('pg', n.prefix, { ingestPgUrl: PG_URL, ingestPgTable: n.table, ingestPgBatch: 16 }, K);
  cleanups.push(() => child.kill9());
  await child.waitForLine('ready');
  await produce(n.table, range(N).map((i) => entry(user, i)));
  await child.waitForLine('stored');
  await child.kill9();
  // 16 rows committed in the first batch; rows 16..19 stored in the second batch, never committed.
  assert.equal((await stored(survivorNode, user)).ns.length, K);
  const s = await source(n, pipelineOf(survivorNode), 'survivor');
  await waitFor('outbox emptied', async () => (await rowCount(n.table)) === 0, 30_000);
  const st = await stored(survivorNode, user);
  assert.deepEqual([...st.ns].sort((x, y) => x - y), range(N), 'nothing lost, nothing doubled');
  assert.equal(st.tip, N, 'one seq per entry');
  assert.equal(s.stats().consumed, N - 16, 'the rolled-back batch was published again (idempotent) with the rest');
});

test('both connections cut through a fault proxy (and refused meanwhile): consumption resumes', { timeout: 60_000 }, async () => {
  const n = names();
  const a = await node(n.prefix);
  const user = 'u-cut';
  const u = new URL(PG_URL);
  const proxy = new FaultProxy('pg', [{ host: u.hostname, port: Number(u.port || 5432) }], new Rng(17));
  await proxy.listen();
  cleanups.push(() => proxy.close());
  const viaProxy = `postgres://${u.username}@${proxy.url}${u.pathname}`;
  const s = await source(n, pipelineOf(a), 'node-cut', { url: viaProxy });
  await produce(n.table, range(20).map((i) => entry(user, i)));
  await waitFor('first half consumed', () => s.stats().consumed === 20);
  proxy.setRefuse(true);
  proxy.cut();
  await waitFor('loss noticed', () => !s.stats().connected);
  await produce(n.table, range(20).map((i) => entry(user, 20 + i)));
  proxy.setRefuse(false);
  // The LISTEN connection comes back too and its first act is a wake-up: no wait for the 60 s poll.
  await waitFor('second half consumed', () => s.stats().consumed === 40, 30_000);
  assert.equal(s.stats().connected, true);
  const st = await stored(a, user);
  assert.deepEqual([...st.ns].sort((x, y) => x - y), range(40));
  assert.equal(st.tip, 40);
  assert.ok(proxy.stats.accepted >= 4, 'both connections were made again');
});

test('a stalled connection (black hole) times out and is replaced; consumption resumes after the stall', { timeout: 60_000 }, async () => {
  const n = names();
  const a = await node(n.prefix);
  const user = 'u-stall';
  const u = new URL(PG_URL);
  const proxy = new FaultProxy('pg-stall', [{ host: u.hostname, port: Number(u.port || 5432) }], new Rng(18));
  await proxy.listen();
  cleanups.push(() => proxy.close());
  // Tables first, directly: DDL through a stalled proxy is not what this test is about.
  await source(n, async () => {}, 'node-setup').then((s) => s.stop());
  const s = await source(n, pipelineOf(a), 'node-stall', { url: `postgres://${u.username}@${proxy.url}${u.pathname}`, timeoutMs: 1_000, pollMs: 200 });
  await produce(n.table, range(10).map((i) => entry(user, i)));
  await waitFor('first part consumed', () => s.stats().consumed === 10);
  proxy.stall(true);
  await waitFor('stalled query timed out', () => !s.stats().connected, 20_000);
  await produce(n.table, range(10).map((i) => entry(user, 10 + i)));
  proxy.stall(false);
  await waitFor('the rest consumed', () => s.stats().consumed === 20, 30_000);
  const st = await stored(a, user);
  assert.deepEqual([...st.ns].sort((x, y) => x - y), range(20));
  assert.equal(st.tip, 20);
});

test('the poll is the backstop when no NOTIFY arrives', { timeout: 30_000 }, async () => {
  const n = names();
  const a = await node(n.prefix);
  const user = 'u-poll';
  const s = await source(n, pipelineOf(a), 'node-poll', { pollMs: 200 });
  // Rows written with the trigger disabled: no notification, only the poll finds them.
  await db.query(`ALTER TABLE "${n.table}" DISABLE TRIGGER herald_notify`);
  await produce(n.table, [entry(user, 0)]);
  await waitFor('found by the poll', () => s.stats().consumed === 1, 5_000);
  await db.query(`ALTER TABLE "${n.table}" ENABLE TRIGGER herald_notify`);
});

test('stop() finishes and commits the batch in hand, then closes; rows left wait for the next node', { timeout: 30_000 }, async () => {
  const n = names();
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let started = 0;
  const s = await source(n, async () => {
    started++;
    await gate;
  }, 'node-stop', { batch: 2 });
  await produce(n.table, range(5).map((i) => ({ to: { user: 'x' }, data: i })));
  await waitFor('first row in the pipeline', () => started === 1);
  let stopped = false;
  const stopping = s.stop().then(() => (stopped = true));
  await new Promise((r) => setImmediate(r));
  assert.equal(stopped, false, 'stop waits for the batch in hand');
  release();
  await stopping;
  assert.equal(s.stats().consumed, 2, 'the claimed batch of 2 finished');
  assert.equal(await rowCount(n.table), 3);
  const other = await source(n, async () => {}, 'node-next');
  await waitFor('the rest consumed elsewhere', () => other.stats().consumed === 3);
});

test('stats: connected, lag; table names are checked at config time and by the source', { timeout: 30_000 }, async () => {
  const n = names();
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const s = await source(n, () => gate, 'node-stats', { batch: 1 });
  assert.equal(s.stats().connected, true);
  await produce(n.table, range(3).map((i) => ({ to: { user: 'x' }, data: i })));
  release();
  await waitFor('all consumed', () => s.stats().consumed === 3);
  await waitFor('lag 0', () => s.stats().lag === 0);
  await s.stop();
  assert.equal(s.stats().connected, false);

  const c = loadConfig({ env: { HERALD_INGEST_PG_URL: PG_URL, HERALD_INGEST_PG_BATCH: '7' } });
  assert.equal(c.ingestPgTable, 'herald_outbox');
  assert.equal(c.ingestPgBatch, 7);
  const fromC = fromConfig(c, async () => {}, logger, 'n1');
  assert.equal(fromC?.kind, 'pg');
  assert.equal(fromC?.name, 'herald_outbox');
  assert.equal(fromConfig(loadConfig({}), async () => {}, logger, 'n1'), undefined);
  for (const bad of ['outbox; DROP TABLE x', 'Outbox', '"outbox"', 'public.outbox', '1outbox', 'o'.repeat(57)]) {
    assert.throws(() => loadConfig({ env: { HERALD_INGEST_PG_TABLE: bad } }), /INGEST_PG_TABLE|ingestPgTable/, bad);
    assert.throws(() => new PgSource({ ...c, url: PG_URL, table: bad } as unknown as PgSourceOptions), /not a lower-case SQL identifier/, bad);
  }
  assert.throws(() => loadConfig({ env: { HERALD_INGEST_PG_URL: 'mysql://x' } }), /INGEST_PG_URL|ingestPgUrl/);
});
