/**
 * The timed soak (`npm run stress -- --profile soak --seed N [--duration 60]
 * [--out DIR]`): soak periods (src/soak/period.ts) back to back on one World
 * of three nodes over Redis (the last with --workers) until the duration is
 * over, every invariant checked after each period, a sampler recording the
 * nodes and Redis every few seconds, then the flatness verdict, the plots
 * (HTML, PNG when Chromium is there) and the report, all under DIR.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { failed, type RunReport } from '../report.js';
import { runStress } from '../runner.js';
import { soakHtml, screenshot } from './chart.js';
import { flatness, TOLERANCES, type SeriesStats } from './flatness.js';
import { faultLog, soakPeriod } from './period.js';
import { Sampler, type Sample } from './sampler.js';

export interface SoakOptions {
  seed: number;
  /** Minutes of load (periods start while this has not passed; the last one finishes). Default 60. */
  durationMin?: number;
  /** Output directory (created). */
  outDir: string;
  /** Sampling interval, ms (default 5000). */
  sampleEveryMs?: number;
  /** Warm-up excluded from the flatness thirds, minutes (default: a sixth of the duration, at most 10). */
  warmupMin?: number;
  /** Loaded phase of one period, ms (default: the profile's 120 s; shorter for a test run). */
  periodMs?: number;
  strict?: boolean;
  log?: (line: string) => void;
}

export interface SoakResult {
  report: RunReport;
  stats: SeriesStats[];
  flat: boolean;
  ok: boolean;
  summary: string;
  png: boolean;
}

export async function runSoak(o: SoakOptions): Promise<SoakResult> {
  const durationMin = o.durationMin ?? 60;
  const warmupMin = o.warmupMin ?? Math.min(10, durationMin / 6);
  const log = o.log ?? ((l: string) => process.stdout.write(l + '\n'));
  mkdirSync(o.outDir, { recursive: true });
  let sampler: Sampler | undefined;
  const load: number[][] = [];
  const loadTimer = setInterval(() => load.push(loadavg()), 60_000);
  const startedLoad = loadavg();
  faultLog.length = 0;
  let report: RunReport;
  try {
    report = await runStress({
      profile: 'soak',
      seed: o.seed,
      scenarios: [soakPeriod],
      durationMs: durationMin * 60_000,
      ...(o.periodMs !== undefined ? { phaseMs: o.periodMs } : {}),
      strict: o.strict ?? false,
      log: (l) => log(`${new Date().toISOString().slice(11, 19)} ${l}`),
      attach: (world) => {
        sampler = new Sampler(world, join(o.outDir, 'samples.jsonl'), o.sampleEveryMs ?? 5000);
        sampler.start();
        return () => sampler!.stop();
      },
    });
  } finally {
    clearInterval(loadTimer);
  }
  const loads = [startedLoad, ...load].map((l) => l[0]!);
  const faults = faultLog.map((f) => ({ t: sampler ? sampler.since(f.at) : 0, kind: f.kind, detail: f.detail }));
  const out = await writeOutputs({ outDir: o.outDir, seed: o.seed, durationMin, warmupMin, report, samples: sampler?.samples ?? [], faults, loadRange: [Math.min(...loads), Math.max(...loads)] });
  return { report, ...out, ok: report.ok && out.flat };
}

interface Outputs {
  outDir: string;
  seed: number;
  durationMin: number;
  warmupMin: number;
  report: RunReport;
  samples: Sample[];
  faults: { t: number; kind: string; detail: string }[];
  /** 1-minute load average, lowest and highest seen during the run. */
  loadRange: [number, number];
}

/** Flatness, summary, report.json, flatness.json, soak.html and soak.png from a run's data. */
async function writeOutputs(o: Outputs): Promise<{ stats: SeriesStats[]; flat: boolean; summary: string; png: boolean }> {
  const { report, samples, faults } = o;
  const stats = flatness(samples, o.warmupMin * 60);
  const flat = stats.length > 0 && stats.every((s) => s.flat);
  const periods = report.scenarios;
  const sum = (f: (r: (typeof periods)[number]) => number): number => periods.reduce((a, r) => a + f(r), 0);
  const byKind = new Map<string, number>();
  for (const f of faults) byKind.set(f.kind, (byKind.get(f.kind) ?? 0) + 1);
  const summary = [
    `herald soak: seed ${o.seed}, ${(report.durationMs / 60_000).toFixed(1)} min (asked ${o.durationMin}), ${periods.length} periods, warm-up ${o.warmupMin.toFixed(1)} min, ${cpus().length} CPUs, load average (1 min) ${o.loadRange[0].toFixed(1)}–${o.loadRange[1].toFixed(1)}`,
    `invariants: ${periods.filter((r) => !failed(r, report.strict)).length}/${periods.length} periods passed; publishes ${sum((r) => r.publishes.total)} (200: ${sum((r) => r.publishes.ok)}, 5xx: ${sum((r) => r.publishes.s5xx)}, no answer: ${sum((r) => r.publishes.noAnswer)}), deliveries checked ${sum((r) => r.delivered)}, device sessions ${sum((r) => r.devices)}`,
    `faults: ${[...byKind].map(([k, n]) => `${k} ×${n}`).join(', ')}`,
    `flat after warm-up: ${flat ? 'PASS' : 'FAIL'} (${stats.filter((s) => s.flat).length}/${stats.length} series; limit = first-third median × factor + slack: ${Object.entries(TOLERANCES).map(([m, t]) => `${m} ×${t.factor}+${t.slack}`).join(', ')})`,
  ].join('\n');
  const htmlFile = join(o.outDir, 'soak.html');
  writeFileSync(htmlFile, soakHtml(`herald soak — seed ${o.seed}`, summary, samples, stats, faults));
  writeFileSync(join(o.outDir, 'flatness.json'), JSON.stringify(stats, null, 2));
  writeFileSync(join(o.outDir, 'report.json'), JSON.stringify({ ...report, faults, summary, durationMin: o.durationMin, warmupMin: o.warmupMin, loadRange: o.loadRange }, null, 2));
  const png = await screenshot(htmlFile, join(o.outDir, 'soak.png'));
  return { stats, flat, summary, png };
}

/**
 * Recomputes the verdict, summary and plots of a finished soak from its files (`--reanalyse DIR`):
 * after a change to the flatness check or the plots, without running the hour again.
 */
export async function reanalyseSoak(outDir: string): Promise<SoakResult> {
  const saved = JSON.parse(readFileSync(join(outDir, 'report.json'), 'utf8')) as RunReport & { faults: Outputs['faults']; summary: string; durationMin?: number; warmupMin?: number; loadRange?: [number, number] };
  const samples = readFileSync(join(outDir, 'samples.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Sample);
  const m = /asked (\d+(?:\.\d+)?)\).*warm-up (\d+(?:\.\d+)?) min.*load average \(1 min\) (\d+(?:\.\d+)?)–(\d+(?:\.\d+)?)/.exec(saved.summary);
  const durationMin = saved.durationMin ?? Number(m?.[1] ?? 60);
  const warmupMin = saved.warmupMin ?? Number(m?.[2] ?? Math.min(10, durationMin / 6));
  const loadRange = saved.loadRange ?? [Number(m?.[3] ?? NaN), Number(m?.[4] ?? NaN)];
  const { faults: _f, summary: _s, ...report } = saved;
  const out = await writeOutputs({ outDir, seed: saved.seed, durationMin, warmupMin, report, samples, faults: saved.faults, loadRange });
  return { report, ...out, ok: report.ok && out.flat };
}
