/**
 * The probe: the measured phase samples /proc only, so the harness sends the server under test no
 * request while it is being measured; the heap is read by a request before and after.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ServerProbe } from '../src/probe.js';

test('heap: false reads /proc without a request to the server; the default reads the heap too', async () => {
  let requests = 0;
  const server = createServer((_req, res) => {
    requests++;
    res.end(JSON.stringify({ rss: 1, heapUsed: 12345 }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const httpBase = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const probe = new ServerProbe({ httpBase, pid: process.pid, heapSource: 'stats' });
    const quiet = await probe.sample({ heap: false });
    assert.equal(requests, 0);
    assert.ok(quiet.rssBytes !== undefined && quiet.rssBytes > 1, 'RSS from /proc');
    assert.ok(quiet.cpuSeconds !== undefined);
    assert.equal(quiet.heapUsedBytes, undefined);
    const full = await probe.sample();
    assert.equal(requests, 1);
    assert.equal(full.heapUsedBytes, 12345);
    // Without a pid the request is the only source: it is made even with heap: false.
    const remote = await new ServerProbe({ httpBase, heapSource: 'stats' }).sample({ heap: false });
    assert.equal(requests, 2);
    assert.equal(remote.rssBytes, 1);
  } finally {
    server.close();
  }
});
