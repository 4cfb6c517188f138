/** Compaction after a connect storm through a real node: connects, then quiet, then one collection (counted in /metrics). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHerald, type HeraldNode } from '../../src/node.js';
import { API_KEY, SECRET, connect, waitUntil } from '../helpers/harness.js';
import { scrape } from '../ops/metricsText.js';

test('a node that took compactAfterConnects connects and then went quiet compacts (full collections, counted in /metrics)', async (t) => {
  let gcs = 0;
  const n: HeraldNode = await startHerald(
    { port: 0, host: '127.0.0.1', jwtSecret: SECRET, apiKey: API_KEY, logLevel: 'silent', compactAfterConnects: 3, compactQuietMs: 100 },
    { gc: () => void gcs++ },
  );
  t.after(() => n.close());
  // The threshold itself is the unit tests' (test/unit/idleCompaction.test.ts); here: the wiring.
  const clients = [await connect(n, 'a'), await connect(n, 'b'), await connect(n, 'c')];
  // The node looks once a second; quiet for 100 ms after the third connect, it collects.
  await waitUntil(() => (gcs >= 1 ? true : undefined), 10_000, 'the compaction');
  const s = await scrape(n);
  assert.equal(s.value('herald_heap_compactions_total'), 1);
  assert.ok(s.declares('herald_heap_compaction_seconds_total'));
  for (const c of clients) c.close();
});
