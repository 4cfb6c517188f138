/**
 * ops/ and docs/operations.md stay true to the code: every metric the Grafana
 * dashboard and the alert rules query is exported by a node, and every
 * herald_* family a node exports is documented.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HeraldNode } from '../../src/node.js';
import { startNode } from '../helpers/harness.js';
import { scrape, type Scrape } from './metricsText.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '../../../..');
const read = (p: string): string => readFileSync(join(repoRoot, p), 'utf8');

let n: HeraldNode | undefined;
after(async () => {
  await n?.close();
});

async function exported(): Promise<Scrape> {
  n ??= await startNode();
  return scrape(n);
}

/** Metric families named in PromQL expressions (histogram suffixes folded). */
function familiesIn(exprs: string[]): Set<string> {
  const out = new Set<string>();
  for (const e of exprs) {
    for (const m of e.matchAll(/\b((?:herald|process|nodejs)_[a-z0-9_]+)/g)) out.add(m[1]!.replace(/_(bucket|count|sum)$/, ''));
  }
  return out;
}

function declared(s: Scrape, family: string): boolean {
  return s.declares(family);
}

test('the Grafana dashboard is valid JSON and queries only exported metrics', async () => {
  const dash = JSON.parse(read('ops/grafana/herald-dashboard.json')) as { panels: { type: string; title: string; targets?: { expr: string }[] }[]; uid: string };
  assert.equal(dash.uid, 'herald-overview');
  const exprs = dash.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
  assert.ok(exprs.length >= 30, `${exprs.length} queries`);
  for (const p of dash.panels) if (p.type !== 'row') assert.ok((p.targets ?? []).length > 0, `panel ${p.title} has a query`);
  const s = await exported();
  for (const f of familiesIn(exprs)) assert.ok(declared(s, f), `dashboard queries ${f}, which /metrics does not export`);
  for (const need of ['herald_connections', 'herald_deliver_latency_seconds', 'herald_ack_latency_seconds', 'herald_ingest_lag_seconds', 'herald_limit_rejections_total', 'herald_event_loop_lag_seconds']) {
    assert.ok(familiesIn(exprs).has(need), `dashboard shows ${need}`);
  }
});

test('the alert rules are well-formed and query only exported metrics', async () => {
  const text = read('ops/prometheus/herald-alerts.yml');
  const alerts = [...text.matchAll(/^\s+- alert: (\w+)$/gm)].map((m) => m[1]!);
  const exprs = [...text.matchAll(/^\s+expr: (.+)$/gm)].map((m) => m[1]!);
  assert.ok(alerts.length >= 15);
  assert.equal(exprs.length, alerts.length, 'one expr per alert');
  assert.equal([...text.matchAll(/severity: (critical|warning|info) \}/g)].length, alerts.length, 'one severity per alert');
  assert.equal([...text.matchAll(/^\s+summary: /gm)].length, alerts.length, 'one summary per alert');
  assert.equal(new Set(alerts).size, alerts.length, 'alert names are unique');
  assert.ok(!text.includes('\t'), 'YAML has no tabs');
  const s = await exported();
  for (const f of familiesIn(exprs)) assert.ok(declared(s, f), `an alert queries ${f}, which /metrics does not export`);
  const doc = read('docs/operations.md');
  for (const a of alerts) assert.ok(doc.includes(a), `docs/operations.md mentions alert ${a}`);
});

test('docs/operations.md documents every herald_* metric family and only those', async () => {
  const s = await exported();
  const families = [...s.text.matchAll(/^# TYPE (herald_[a-z0-9_]+) /gm)].map((m) => m[1]!);
  assert.ok(families.length >= 25);
  const doc = read('docs/operations.md');
  const table = new Set([...doc.matchAll(/^\| `(herald_[a-z0-9_]+)` \|/gm)].map((m) => m[1]!));
  for (const f of families) assert.ok(table.has(f), `${f} is missing from the metrics table of docs/operations.md`);
  for (const f of table) assert.ok(families.includes(f), `docs/operations.md lists ${f}, which /metrics does not export`);
});
