/**
 * Issue 13 item 4: the memory engine releases what retention and ttl drop,
 * and bounds all inboxes together (memoryMaxStoredBytes → 507 storage_full).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MemoryEngine } from '../../src/engine/memory/memoryEngine.js';
import { nodeFactory, publish, waitUntil } from '../helpers/harness.js';

const node = nodeFactory();
const body = (n: number): string => 'x'.repeat(n);

test('messages dropped by the count limit are released at once (≤ 64 dropped used to stay referenced)', async () => {
  const n = await node({ inboxMaxMessages: 10 });
  const engine = n.engine as MemoryEngine;
  for (let i = 0; i < 60; i++) assert.equal((await publish(n, { to: { user: 'trimmed' }, data: body(1000) })).status, 200);
  assert.equal(engine.inboxDepth(), 10);
  // Before the fix the 50 dropped bodies stayed in the array until more than 64 were dropped.
  assert.equal(engine.referencedMessages(), 10);
  const one = engine.storedBytes() / 10;
  assert.ok(one > 1000 && one < 1200, `accounted ${one} bytes per message`);
});

test('messages expired by ttl are released and their bytes returned', async () => {
  const n = await node();
  const engine = n.engine as MemoryEngine;
  for (let i = 0; i < 20; i++) assert.equal((await publish(n, { to: { user: 'ttl' }, data: body(2000), ttl: 1 })).status, 200);
  // Measured after the last publish: on a loaded machine the loop itself can take longer than the ttl.
  const sent = Date.now();
  assert.ok(engine.storedBytes() > 20 * 2000);
  // Wall-clock condition: the ttl of 1 s must pass for every message.
  await waitUntil(() => Date.now() > sent + 1100, 5000, 'ttl to pass');
  assert.equal((await publish(n, { to: { user: 'ttl' }, data: 'kept' })).status, 200); // touches (trims) the inbox
  assert.equal(engine.referencedMessages(), 1);
  assert.equal(engine.inboxDepth(), 1);
  assert.ok(engine.storedBytes() < 200, `${engine.storedBytes()} bytes still accounted`);
});

test('the global byte bound trips through the API with 507 storage_full, across users and tenants', async () => {
  const n = await node({ memoryMaxStoredBytes: 100_000 });
  const engine = n.engine as MemoryEngine;
  let refused: { status: number; body: Record<string, unknown> } | undefined;
  let i = 0;
  for (; i < 200 && !refused; i++) {
    // Spread over users and tenants: the bound is the node's, not per tenant.
    const r = await publish(n, { to: { user: `u${i}`, tenant: `t${i % 7}` }, data: body(8000) });
    if (r.status !== 200) refused = r;
  }
  assert.ok(refused, 'never refused');
  assert.equal(refused.status, 507);
  assert.equal((refused.body.error as { code: string }).code, 'storage_full');
  assert.ok(i >= 11 && i <= 13, `refused at publish ${i}`);
  assert.ok(engine.storedBytes() <= 100_000);
  // Nothing was stored for the refused publish: that user's inbox is still empty.
  const failed = `u${i - 1}`;
  const small = await publish(n, { to: { user: failed, tenant: `t${(i - 1) % 7}` }, data: 1 });
  assert.equal(small.status, 200);
  assert.deepEqual(small.body.seq, { [failed]: 1 });
  // Ephemeral messages store nothing and still pass.
  assert.equal((await publish(n, { to: { user: 'u0' }, data: body(8000), reliable: false })).status, 200);
});

test('a bound that retention keeps under is never hit: dropped messages give their bytes back', async () => {
  const n = await node({ memoryMaxStoredBytes: 50_000, inboxMaxMessages: 2 });
  const engine = n.engine as MemoryEngine;
  for (let i = 0; i < 100; i++) assert.equal((await publish(n, { to: { user: 'steady' }, data: body(8000) })).status, 200);
  assert.ok(engine.storedBytes() < 2 * 8200);
});
