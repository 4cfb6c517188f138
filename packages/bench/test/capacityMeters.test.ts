import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatMemory, nodeMemory, parseCommandStats } from '../src/capacityMeters.js';

test('INFO commandstats: calls and usec per command', () => {
  const text = '# Commandstats\r\ncmdstat_evalsha:calls=10,usec=200,usec_per_call=20.00,rejected_calls=0,failed_calls=0\r\ncmdstat_client|setname:calls=1,usec=3,usec_per_call=3.00\r\n';
  const m = parseCommandStats(text);
  assert.deepEqual(m.get('evalsha'), [10, 200]);
  assert.deepEqual(m.get('client|setname'), [1, 3]);
});

test("a node's memory from /proc status and its /metrics", () => {
  const status = 'Name:\tnode\nVmRSS:\t  204800 kB\nRssAnon:\t  153600 kB\n';
  const metrics = [
    'nodejs_heap_size_total_bytes 100',
    'nodejs_heap_size_used_bytes 60',
    'nodejs_external_memory_bytes 7',
    'nodejs_heap_space_size_total_bytes{space="read_only"} 1',
    'nodejs_heap_space_size_total_bytes{space="new"} 32',
    'nodejs_heap_space_size_total_bytes{space="old"} 50',
  ].join('\n');
  const m = nodeMemory(status, metrics);
  assert.deepEqual(m, { rss: 204800 * 1024, rssAnon: 153600 * 1024, heapTotal: 100, heapUsed: 60, newSpace: 32, oldSpace: 50, external: 7 });
  const table = formatMemory([{ url: 'http://127.0.0.1:1', connections: 1024, before: { ...m, rss: 0 }, after: m }]);
  assert.match(table, /\| http:\/\/127\.0\.0\.1:1 \| 1024 \| 200\.0 \(200\.00\) \|/);
});
