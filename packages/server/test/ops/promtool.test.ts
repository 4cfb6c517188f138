/**
 * `promtool check metrics` on a live node's /metrics and `promtool check rules`
 * on the alert rules. promtool comes from Debian's `prometheus` package
 * (scripts/test-prereqs.sh installs it). Skipped where it is missing, except
 * in CI (CI=true), where its absence fails the test.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import type { HeraldNode } from '../../src/node.js';
import { startNode, token, waitUntil, API_KEY } from '../helpers/harness.js';

const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));
const hasPromtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' }).status === 0;
const skip = hasPromtool ? false : process.env.CI === 'true' ? false : 'promtool not installed (apt-get install prometheus)';

function promtool(args: string[], input?: string): { status: number | null; out: string } {
  const r = spawnSync('promtool', args, { input, encoding: 'utf8', cwd: repoRoot, timeout: 30_000 });
  if (r.error) throw new Error(`promtool: ${r.error.message} (CI must install Debian's prometheus package: scripts/test-prereqs.sh)`);
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

let n: HeraldNode | undefined;
after(async () => {
  await n?.close();
});

test('promtool check metrics passes on /metrics of a node that has carried traffic', { skip }, async () => {
  n = await startNode();
  // Some traffic first, so histograms and labelled counters have series.
  const ws = new WebSocket(`${n.url.replace(/^http/, 'ws')}/ws?token=${await token('promtool-user')}&device=d1`);
  const frames: { type: string; seq?: number }[] = [];
  ws.on('message', (d) => frames.push(JSON.parse(d.toString()) as { type: string }));
  await waitUntil(() => frames.find((f) => f.type === 'welcome'), 5000, 'welcome');
  const res = await fetch(`${n.url}/api/v1/publish`, {
    method: 'POST',
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ to: { user: 'promtool-user' }, data: { hi: 1 } }),
  });
  assert.equal(res.status, 200);
  const msg = await waitUntil(() => frames.find((f) => f.type === 'message'), 5000, 'message');
  ws.send(JSON.stringify({ type: 'ack', seq: msg.seq }));
  ws.close();
  const text = await (await fetch(`${n.url}/metrics`)).text();
  assert.match(text, /^nodejs_active_handles\{/m, 'the per-type handle gauge stays');
  const r = promtool(['check', 'metrics'], text);
  assert.equal(r.status, 0, r.out);
});

test('promtool check rules passes on ops/prometheus/herald-alerts.yml', { skip }, () => {
  const r = promtool(['check', 'rules', 'ops/prometheus/herald-alerts.yml']);
  assert.equal(r.status, 0, r.out);
});
