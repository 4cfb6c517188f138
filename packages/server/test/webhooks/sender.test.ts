/**
 * The sender and the event model without a node: retention drops (counted),
 * backoff growth with jitter, the body shape, partitions, data splicing, and
 * the webhook secret kept out of logs and `config check` output.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { createLogger } from '../../src/observability/logger.js';
import { batchBody, partitionOf, serialize } from '../../src/webhooks/event.js';
import { MemoryOutbox } from '../../src/webhooks/memoryOutbox.js';
import { Sender } from '../../src/webhooks/sender.js';
import { WebhookStats } from '../../src/webhooks/stats.js';
import { maskedConfig } from '../../src/cli/configCommand.js';
import { loadConfig } from '../../src/config/load.js';
import { startHerald } from '../../src/node.js';
import { API_KEY, SECRET, connect } from '../helpers/harness.js';
import { waitFor } from '../helpers/redisServer.js';
import { Receiver } from './receiver.js';

const WEBHOOK_SECRET = 'webhook-secret-never-logged-42';
const receiver = new Receiver(WEBHOOK_SECRET);
after(() => receiver.stop());

test('serialize splices data as a JSON value; the body is {"events":[…]}', () => {
  const json = serialize({ id: 'i', type: 'publish', ts: 1, node: 'n', tenant: 't', user: 'u', room: 'r', data: '{"a":[1,"x"]}' });
  assert.deepEqual(JSON.parse(json), { id: 'i', type: 'publish', ts: 1, node: 'n', tenant: 't', user: 'u', room: 'r', data: { a: [1, 'x'] } });
  assert.deepEqual(JSON.parse(batchBody([json, json])).events.length, 2);
  // A user's events always go to one partition; users spread over partitions.
  assert.equal(partitionOf('t', 'u', 16), partitionOf('t', 'u', 16));
  const used = new Set(Array.from({ length: 200 }, (_, i) => partitionOf('t', `user${i}`, 16)));
  assert.ok(used.size > 12);
});

test('events past the retention window are dropped and counted, never sent', async () => {
  await receiver.start();
  const outbox = new MemoryOutbox(1, 100);
  const stats = new WebhookStats();
  const sender = new Sender(outbox, { url: receiver.url, secret: WEBHOOK_SECRET, batchSize: 10, batchMs: 10, timeoutMs: 1000, retentionMs: 60_000, maxBackoffMs: 100 }, stats, createLogger('silent'));
  outbox.append(0, [
    { type: 'connect', ts: Date.now() - 120_000, json: '{"id":"old"}' },
    { type: 'online', ts: Date.now(), json: '{"id":"new"}' },
  ]);
  sender.tick();
  await waitFor('sent', () => stats.total('delivered') === 1);
  assert.equal(stats.total('dropped_retention'), 1);
  assert.deepEqual(receiver.requests.at(-1)!.events.map((e) => e.id), ['new']);
  await sender.stop();
});

test('failures back off exponentially, capped, and the batch is kept until a 2xx', async () => {
  const outbox = new MemoryOutbox(1, 100);
  const stats = new WebhookStats();
  const before = receiver.requests.length;
  receiver.queue.push(500, 500, 500, 500);
  const sender = new Sender(outbox, { url: receiver.url, secret: WEBHOOK_SECRET, batchSize: 10, batchMs: 5, timeoutMs: 1000, retentionMs: 60_000, maxBackoffMs: 1000 }, stats, createLogger('silent'));
  outbox.append(0, [{ type: 'connect', ts: Date.now(), json: '{"id":"k"}' }]);
  const t0 = Date.now();
  sender.start();
  await waitFor('delivered after 4 failures', () => stats.total('delivered') === 1, 10_000);
  const took = Date.now() - t0;
  // Caps 500, 1000, 1000, 1000 ms with jitter of at least a tenth: over 350 ms, under the sum of caps plus slack.
  assert.ok(took >= 350 && took < 4500, `backoff took ${took} ms`);
  assert.equal(stats.total('retried'), 4);
  const sent = receiver.requests.slice(before);
  assert.equal(sent.length, 5);
  for (const r of sent) assert.deepEqual(r.events.map((e) => e.id), ['k']);
  await sender.stop();
});

test('the webhook secret appears in no log line and not in config check output', async () => {
  const raw: string[] = [];
  const logger = createLogger('trace', { node: 'secret-test' }, { write: (s: string) => void raw.push(s) });
  receiver.status = 503;
  const n = await startHerald({ port: 0, host: '127.0.0.1', jwtSecret: SECRET, apiKey: API_KEY, logLevel: 'trace', webhookUrl: receiver.url, webhookSecret: WEBHOOK_SECRET, webhookBatchMs: 10 }, { logger });
  try {
    const c = await connect(n, 'sam');
    await waitFor('failed attempts logged', () => raw.join('').includes('webhook delivery failed'));
    c.close();
    logger.info({ webhookSecret: WEBHOOK_SECRET, config: { webhookSecret: WEBHOOK_SECRET } }, 'a careless caller');
  } finally {
    receiver.status = 200;
    await n.close();
  }
  assert.ok(!raw.join('').includes(WEBHOOK_SECRET), 'secret never logged');
  const shown = maskedConfig(loadConfig({ overrides: { jwtSecret: SECRET, apiKey: API_KEY, webhookUrl: 'https://hooks.example.com/in', webhookSecret: WEBHOOK_SECRET } }));
  assert.ok(!JSON.stringify(shown).includes(WEBHOOK_SECRET));
  assert.equal(shown.webhookSecret, `<set, ${WEBHOOK_SECRET.length} characters>`);
});

test('the example receiver of docs/events.md accepts a Herald-signed batch and refuses others', async () => {
  const { readFileSync } = await import('node:fs');
  const { spawn } = await import('node:child_process');
  const { freePort } = await import('../helpers/redisServer.js');
  const { postJson } = await import('../../src/outbound/post.js');
  const doc = readFileSync(new URL('../../../../docs/events.md', import.meta.url), 'utf8');
  const code = /```js\n([\s\S]*?)```/.exec(doc)![1]!;
  const port = await freePort();
  const child = spawn(process.execPath, ['--input-type=module', '-e', code.replace('.listen(3000)', `.listen(${port})`)], {
    env: { ...process.env, HERALD_WEBHOOK_SECRET: WEBHOOK_SECRET },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  try {
    const url = `http://127.0.0.1:${port}/`;
    const body = JSON.stringify({ events: [{ id: 'e1', type: 'online', user: 'alice' }] });
    const o = { timeoutMs: 2000, maxResponseBytes: 1000 };
    await waitFor('example receiver up', async () => (await postJson(url, body, { ...o, secret: WEBHOOK_SECRET }, false).catch(() => undefined))?.status === 204);
    await assert.rejects(postJson(url, body, { ...o, secret: 'another-secret-0123456789' }, false), (e: { status?: number }) => e.status === 401);
    await assert.rejects(postJson(url, body, o, false), (e: { status?: number }) => e.status === 401);
    await waitFor('event printed', () => out.includes('e1 online alice'));
  } finally {
    child.kill('SIGKILL');
  }
});

test('the memory outbox removes exactly the entries done, wherever they sit in the head', async () => {
  const o = new MemoryOutbox(1, 10);
  o.append(0, ['a', 'b', 'c', 'd'].map((id, i) => ({ type: 'connect' as const, ts: i, json: id })));
  const taken = await o.take(0, 3);
  await o.done(0, [taken[0]!, taken[2]!]);
  assert.deepEqual((await o.take(0, 10)).map((e) => e.json), ['b', 'd']);
  assert.equal((await o.depth()).depth, 2);
});

test('every webhook outcome label is documented in docs/operations.md and docs/events.md', async () => {
  const { readFileSync } = await import('node:fs');
  const { WEBHOOK_OUTCOMES } = await import('../../src/observability/labels.js');
  for (const doc of ['operations.md', 'events.md']) {
    const text = readFileSync(new URL(`../../../../docs/${doc}`, import.meta.url), 'utf8');
    for (const o of WEBHOOK_OUTCOMES) assert.ok(text.includes('`' + o + '`'), `${o} in ${doc}`);
  }
});
