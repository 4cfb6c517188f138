/** Human-readable and JSON results of a run; every failure line carries the seed. */
import type { Violation } from './invariants.js';
import { KNOWN_ISSUES } from './knownIssues.js';

export interface ScenarioResult {
  name: string;
  iteration: number;
  durationMs: number;
  publishes: { total: number; ok: number; s5xx: number; s4xx: number; noAnswer: number };
  delivered: number;
  devices: number;
  notes: string[];
  violations: Violation[];
  error?: string;
}

export interface RunReport {
  seed: number;
  profile: string;
  startedAt: string;
  durationMs: number;
  scenarios: ScenarioResult[];
  memory: { node: string; baselineRssMiB: number; finalRssMiB: number; peakRssMiB: number; baselineHeapMiB: number; finalHeapMiB: number }[];
  ok: boolean;
  strict: boolean;
}

/** Did this scenario fail? Known server bugs count only when `strict`. */
export function failed(r: ScenarioResult, strict: boolean): boolean {
  return r.error !== undefined || r.violations.some((v) => strict || !v.known);
}

export function formatScenario(r: ScenarioResult, seed: number): string {
  const p = r.publishes;
  const head = `${failed(r, false) ? 'FAIL' : 'ok  '} ${r.name}${r.iteration > 0 ? ` #${r.iteration + 1}` : ''} (${(r.durationMs / 1000).toFixed(1)} s): ${r.devices} devices, publishes ${p.total} (200: ${p.ok}, 5xx: ${p.s5xx}, 4xx: ${p.s4xx}, no answer: ${p.noAnswer}), delivered ${r.delivered}`;
  const lines = [head, ...r.notes.map((n) => `       · ${n}`)];
  if (r.error) lines.push(`       ! error: ${r.error} [seed ${seed}]`);
  for (const v of r.violations)
    lines.push(v.known ? `       ~ KNOWN server bug ${v.known}: ${v.invariant}: ${v.detail} [seed ${seed}]` : `       ! ${v.invariant}: ${v.detail} [seed ${seed}]`);
  return lines.join('\n');
}

export function formatReport(r: RunReport): string {
  const lines = [`herald stress: profile ${r.profile}, seed ${r.seed}, ${(r.durationMs / 1000).toFixed(1)} s`];
  for (const s of r.scenarios) lines.push(formatScenario(s, r.seed));
  for (const m of r.memory)
    lines.push(`memory ${m.node}: RSS baseline ${m.baselineRssMiB} MiB, peak ${m.peakRssMiB} MiB, final ${m.finalRssMiB} MiB; heap used baseline ${m.baselineHeapMiB} MiB, final ${m.finalHeapMiB} MiB`);
  const nFailed = r.scenarios.filter((s) => failed(s, r.strict)).length;
  const known = [...new Set(r.scenarios.flatMap((s) => s.violations.filter((v) => v.known).map((v) => v.known)))];
  for (const k of known) if (k) lines.push(`known server bug still present (pass --strict to fail on it): ${k}: ${KNOWN_ISSUES[k]}`);
  lines.push(r.ok ? `PASS: every invariant held (seed ${r.seed})` : `FAIL: ${nFailed} scenario(s) violated invariants — replay with --seed ${r.seed} --profile ${r.profile}`);
  return lines.join('\n');
}
