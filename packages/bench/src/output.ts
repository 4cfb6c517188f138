/** Writes a run's JSON report and HTML chart under artifacts/bench/ (gitignored). */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { renderChartHtml } from './chart.js';
import { formatReport } from './report.js';
import type { RunReport } from './report.js';

export const DEFAULT_OUT_DIR = 'artifacts/bench';

export function stamp(d = new Date()): string {
  return d.toISOString().replace(/[:.]/g, '-').replace('Z', '');
}

export function writeRunFiles(r: RunReport, outDir: string, label?: string): { json: string; html: string } {
  const dir = resolve(outDir);
  mkdirSync(dir, { recursive: true });
  const base = join(dir, `${label ?? `${r.params.target}-${r.params.scenario}`}-${stamp(new Date(r.startedAt))}`);
  const files = { json: `${base}.json`, html: `${base}.html` };
  r.files = files;
  writeFileSync(files.json, `${JSON.stringify(r, null, 2)}\n`);
  writeFileSync(files.html, renderChartHtml(r, formatReport(r)));
  return files;
}

/** Writes a multi-run command's summary as <outDir>/<name>-<stamp>.json and .md; returns that base path. */
export function writeSummaryFiles(outDir: string, name: string, startedAt: string, json: unknown, markdown: string): string {
  mkdirSync(outDir, { recursive: true });
  const base = join(outDir, `${name}-${stamp(new Date(startedAt))}`);
  writeFileSync(`${base}.json`, `${JSON.stringify(json, null, 2)}\n`);
  writeFileSync(`${base}.md`, `${markdown}\n`);
  return base;
}

/** Records a run that failed: its message under `key` in `failures`, and a line on stderr naming it by `label`. */
export function noteFailedRun(failures: Record<string, string>, key: string, label: string, e: unknown): void {
  const message = (e as Error).message;
  failures[key] = message;
  process.stderr.write(`!! ${label} failed: ${message}\n`);
}

/** Lists the failed runs on stdout, if any; the command's exit code (1 when some run failed). */
export function failedRunsExitCode(failures: string[]): number {
  if (failures.length > 0) process.stdout.write(`Failed runs:\n  ${failures.join('\n  ')}\n`);
  return failures.length > 0 ? 1 : 0;
}
