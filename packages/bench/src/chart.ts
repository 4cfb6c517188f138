/**
 * A self-contained HTML page with inline SVG charts of a run over time:
 * deliveries/s, publish→deliver p50/p99, server CPU. No scripts, no external
 * assets, so it opens from artifacts/ anywhere.
 */
import type { RunReport, TimelinePoint } from './report.js';

const W = 760;
const H = 220;
const PAD = { l: 70, r: 20, t: 30, b: 34 };

function esc(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] as string);
}

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

interface Series {
  name: string;
  color: string;
  values: Array<[number, number]>;
}

export function svgChart(title: string, unit: string, series: Series[]): string {
  const xs = series.flatMap((s) => s.values.map((v) => v[0]));
  const ys = series.flatMap((s) => s.values.map((v) => v[1]));
  const xMax = Math.max(1, ...xs);
  const yMax = niceMax(Math.max(0, ...ys));
  const iw = W - PAD.l - PAD.r;
  const ih = H - PAD.t - PAD.b;
  const x = (v: number): number => PAD.l + (v / xMax) * iw;
  const y = (v: number): number => PAD.t + ih - (v / yMax) * ih;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(title)}">`);
  parts.push(`<text x="${PAD.l}" y="18" font-size="14" font-weight="bold">${esc(title)}</text>`);
  for (let i = 0; i <= 4; i++) {
    const v = (yMax * i) / 4;
    parts.push(`<line x1="${PAD.l}" x2="${W - PAD.r}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`);
    parts.push(`<text x="${PAD.l - 6}" y="${y(v) + 4}" font-size="11" text-anchor="end">${esc(formatNum(v))}</text>`);
  }
  parts.push(`<text x="12" y="${PAD.t + ih / 2}" font-size="11" transform="rotate(-90 12 ${PAD.t + ih / 2})" text-anchor="middle">${esc(unit)}</text>`);
  const ticks = Math.min(10, Math.ceil(xMax));
  for (let i = 0; i <= ticks; i++) {
    const v = (xMax * i) / ticks;
    parts.push(`<text x="${x(v)}" y="${H - PAD.b + 16}" font-size="11" text-anchor="middle">${v.toFixed(v < 10 ? 1 : 0)}s</text>`);
  }
  series.forEach((s, i) => {
    if (s.values.length > 0) {
      const pts = s.values.map(([a, b]) => `${x(a).toFixed(1)},${y(b).toFixed(1)}`).join(' ');
      parts.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${pts}"/>`);
    }
    parts.push(`<rect x="${W - PAD.r - 150}" y="${8 + i * 14}" width="10" height="10" fill="${s.color}"/>`);
    parts.push(`<text x="${W - PAD.r - 136}" y="${17 + i * 14}" font-size="11">${esc(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('');
}

function formatNum(v: number): string {
  if (v >= 1e6) return `${(v / 1e6).toFixed(v % 1e6 === 0 ? 0 : 1)}M`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(v % 1e3 === 0 ? 0 : 1)}k`;
  return Number.isInteger(v) ? String(v) : v.toFixed(2);
}

const mid = (p: TimelinePoint): number => p.t + 0.5;

export function renderChartHtml(r: RunReport, summaryText: string): string {
  const tl = r.timeline;
  const charts = [
    svgChart('Deliveries per second', 'msg/s', [{ name: 'delivered/s', color: '#1f77b4', values: tl.map((p) => [mid(p), p.deliveriesPerSec]) }]),
    svgChart('Publish → deliver latency', 'ms', [
      { name: 'p50', color: '#2ca02c', values: tl.filter((p) => p.deliveriesPerSec > 0).map((p) => [mid(p), p.p50Ms]) },
      { name: 'p99', color: '#d62728', values: tl.filter((p) => p.deliveriesPerSec > 0).map((p) => [mid(p), p.p99Ms]) },
    ]),
    svgChart('Server', '% CPU / MB RSS', [
      { name: 'CPU % of one core', color: '#9467bd', values: tl.filter((p) => p.serverCpuPercent !== undefined).map((p) => [mid(p), p.serverCpuPercent as number]) },
      { name: 'RSS MB', color: '#8c564b', values: tl.filter((p) => p.serverRssMb !== undefined).map((p) => [mid(p), p.serverRssMb as number]) },
    ]),
  ];
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>herald bench: ${esc(r.params.scenario)} / ${esc(r.params.target)}</title>
<style>body{font-family:system-ui,sans-serif;margin:24px;color:#222}pre{background:#f6f6f6;padding:12px;overflow:auto}svg{display:block;margin:12px 0}</style>
</head><body>
<h1>herald bench — ${esc(r.params.scenario)} against ${esc(r.params.target)}</h1>
<p>Started ${esc(r.startedAt)} on ${r.machine.cpus} CPUs, Node ${esc(r.machine.node)}.</p>
<pre>${esc(summaryText)}</pre>
${charts.join('\n')}
</body></html>
`;
}
