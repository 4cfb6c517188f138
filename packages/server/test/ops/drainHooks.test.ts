/**
 * node.close() in-process: onDrain hooks (e.g. stopping ingest consumers) run
 * first, while /readyz already answers 503 and before any client is closed;
 * a failing or hanging hook cannot stop the drain; cursors are persisted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CloseCode } from '@herald/protocol';
import { connect, publish, startNode } from '../helpers/harness.js';

test('onDrain hooks run first, with readyz 503 and clients still connected; a failing or hanging hook does not stop the drain', async () => {
  const n = await startNode({ drainWindowMs: 200, shutdownTimeoutMs: 3000 });
  const c = await connect(n, 'ivy', { device: 'kiosk' });
  assert.equal((await publish(n, { to: { user: 'ivy' }, data: 1 })).status, 200);
  await c.waitFor((f) => f.type === 'message');
  const seen: string[] = [];
  n.onDrain.push(async () => {
    const r = await fetch(n.url + '/readyz');
    seen.push(`readyz ${r.status} ${JSON.stringify(await r.json())}`);
    seen.push(`client open: ${c.closed === undefined}`);
    seen.push(`draining: ${n.draining}`);
  });
  n.onDrain.push(() => {
    throw new Error('ingest consumer failed to stop');
  });
  n.onDrain.push(() => new Promise<void>(() => undefined)); // never settles: bounded by a quarter of the shutdown timeout
  const started = Date.now();
  await n.close();
  assert.deepEqual(seen, ['readyz 503 {"ready":false,"engine":"up","draining":true}', 'client open: true', 'draining: true']);
  assert.equal((await c.waitClosed()).code, CloseCode.GoingAway);
  assert.ok(Date.now() - started < 3000 + 1000, 'within the shutdown timeout (plus slack)');
  assert.equal(c.closed?.reason, 'server shutting down');
  // The cursor was persisted before the engine closed.
  assert.equal(await n.engine.getCursor('default', 'ivy', 'kiosk'), 1);
});
