/**
 * The soak's plots: one self-contained HTML page (inline SVG drawn by the
 * bench's chart code, no scripts) with RSS, heap, event-loop delay, open files
 * per node and Redis memory over time, the flatness table and the faults; and
 * a PNG of it taken by headless Chromium when one is installed.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { svgChart } from '@herald/bench/chart';
import { valueOf, type SeriesStats, type Metric } from './flatness.js';
import type { Sample } from './sampler.js';

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];

function esc(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] as string);
}

function chart(samples: readonly Sample[], metric: Metric, title: string, unit: string): string {
  const nodes = [...new Set(samples.filter((s) => valueOf(s, metric) !== undefined).map((s) => s.node))].sort();
  return svgChart(
    title,
    unit,
    nodes.map((node, i) => ({
      name: node,
      color: COLORS[i % COLORS.length]!,
      values: samples.flatMap((s) => {
        const v = s.node === node && !s.down ? valueOf(s, metric) : undefined;
        return v === undefined ? [] : [[s.t, v] as [number, number]];
      }),
    })),
  );
}

const fmt = (x: number): string => (Number.isFinite(x) ? (Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(1)) : '–');

export function soakHtml(title: string, summary: string, samples: readonly Sample[], stats: readonly SeriesStats[], faults: readonly { t: number; kind: string; detail: string }[]): string {
  const rows = stats
    .map((s) => `<tr><td>${esc(s.node)}</td><td>${s.metric}</td><td>${fmt(s.start)}</td><td>${fmt(s.median)}</td><td>${fmt(s.end)}</td><td>${fmt(s.firstThird)}</td><td>${fmt(s.lastThird)}</td><td>${fmt(s.limit)}</td><td>${s.flat ? 'flat' : '<b>GROWS</b>'}</td></tr>`)
    .join('\n');
  const faultText = faults.map((f) => `${f.t.toFixed(0)} s ${f.kind}: ${f.detail}`).join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font-family:system-ui,sans-serif;margin:16px;color:#222;width:780px}pre{background:#f6f6f6;padding:8px;font-size:11px;white-space:pre-wrap}svg{display:block;margin:6px 0}table{border-collapse:collapse;font-size:11px}td,th{border:1px solid #ccc;padding:1px 5px;text-align:right}</style>
</head><body>
<h2>${esc(title)}</h2>
<pre>${esc(summary)}</pre>
${chart(samples, 'rssMiB', 'RSS per node (workers node: primary + workers)', 'MiB')}
${chart(samples, 'heapMiB', 'Heap used per node (summed over workers)', 'MiB')}
${chart(samples, 'lagP99Ms', 'Event-loop delay p99 (max over workers)', 'ms')}
${chart(samples, 'fds', 'Open file descriptors per node', 'fds')}
${chart(samples, 'fdsNet', 'Open file descriptors minus client connections', 'fds')}
${chart(samples, 'usedMemoryMiB', 'Redis used_memory', 'MiB')}
<table><tr><th>series</th><th>metric</th><th>start</th><th>median</th><th>end</th><th>1st third</th><th>last third</th><th>limit</th><th></th></tr>
${rows}
</table>
<pre>${esc(faultText)}</pre>
</body></html>
`;
}

/** The Chromium the docs name, or the one in HERALD_CHROMIUM. */
export function chromiumPath(): string | undefined {
  const p = process.env.HERALD_CHROMIUM ?? '/usr/bin/chromium';
  return existsSync(p) ? p : undefined;
}

/** PNG of the page's top `height` px (the charts). Resolves false when Chromium is missing or fails (bounded: 60 s). */
export function screenshot(htmlFile: string, pngFile: string, height = 1650): Promise<boolean> {
  const bin = chromiumPath();
  if (!bin) return Promise.resolve(false);
  return new Promise((resolve) => {
    const args = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--hide-scrollbars', `--window-size=812,${height}`, `--screenshot=${pngFile}`, pathToFileURL(htmlFile).href];
    const p = spawn(bin, args, { stdio: 'ignore' });
    const t = setTimeout(() => p.kill('SIGKILL'), 60_000);
    p.on('error', () => {
      clearTimeout(t);
      resolve(false);
    });
    p.on('exit', (code) => {
      clearTimeout(t);
      resolve(code === 0 && existsSync(pngFile));
    });
  });
}
