/**
 * SSE on the Redis engine with two nodes: a stream on one node receives what
 * the other node's API publishes; the same device connecting on the other node
 * ends the stream with 4004; the new stream resumes with Last-Event-ID after
 * what the first acked; API disconnects cross nodes.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Redis } from 'ioredis';
import type { HeraldNode } from '../../src/node.js';
import { API_KEY, publish, startNode, token, waitUntil } from '../helpers/harness.js';
import { deleteKeys, sharedRedis, testPrefix } from '../helpers/redisServer.js';
import { SseReader, sseUrl } from '../helpers/sseClient.js';

let admin: Redis;
const prefix = testPrefix();
let A: HeraldNode;
let B: HeraldNode;
const readers: SseReader[] = [];

before(async () => {
  const shared = await sharedRedis();
  admin = shared.client;
  A = await startNode({ engine: 'redis', redisUrl: shared.url, redisKeyPrefix: prefix, nodeId: 'sse-a' });
  B = await startNode({ engine: 'redis', redisUrl: shared.url, redisKeyPrefix: prefix, nodeId: 'sse-b' });
});

after(async () => {
  for (const r of readers) r.abort();
  await Promise.all([A.close(), B.close()]);
  await deleteKeys(admin, prefix);
  admin.disconnect();
});

function stream(node: HeraldNode, q: Record<string, string>, headers: Record<string, string> = {}): SseReader {
  const r = new SseReader(sseUrl(node.url, q), headers);
  readers.push(r);
  return r;
}

test('a stream on node A gets what node B publishes; the device moving to B ends it 4004 and resumes after the ack', async () => {
  const tok = await token('cl1');
  const a = stream(A, { token: tok, device: 'pos' });
  await a.welcome();
  // The node's user channel must be live on Redis before B publishes.
  await waitUntil(async () => ((await A.engine.userPresence('default', 'cl1')).length === 1 ? true : undefined), 5000, 'presence on A');
  for (let i = 1; i <= 4; i++) assert.equal((await publish(B, { to: { user: 'cl1' }, data: i })).status, 200);
  await a.waitFor((x) => x.seqs().length === 4, 5000, 'four from B');
  const ack = await fetch(A.url + '/sse/ack', { method: 'POST', headers: { authorization: `Bearer ${tok}`, 'content-type': 'application/json' }, body: '{"device":"pos","seq":2}' });
  assert.equal(ack.status, 204);
  await waitUntil(async () => ((await A.engine.getCursor('default', 'cl1', 'pos')) === 2 ? true : undefined), 5000, 'cursor 2 in Redis');

  const b = stream(B, { token: tok, device: 'pos' }, { 'last-event-id': '2' });
  const w = await b.welcome();
  assert.equal(w.last_seq, 2);
  await a.waitFor((x) => x.ended, 5000, 'A stream replaced');
  assert.equal(a.frames('close')[0]!.code, 4004);
  await b.waitFor((x) => x.seqs().length === 2, 5000, 'replay 3, 4');
  assert.deepEqual(b.seqs(), [3, 4]);

  const res = await fetch(A.url + '/api/v1/disconnect', { method: 'POST', headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' }, body: '{"user":"cl1"}' });
  assert.equal(res.status, 200);
  await b.waitFor((x) => x.ended, 5000, 'disconnected across nodes');
  assert.equal(b.frames('close')[0]!.code, 4011);
});
