/**
 * Summarises a V8 .cpuprofile (from `--cpu-prof`) into the functions with the
 * most self time, so a bench run's profile can be read without DevTools:
 *   node packages/bench/dist/profile.js artifacts/bench/profiles/<case>/*.cpuprofile [--top 25]
 */
import { readFileSync } from 'node:fs';
import { isMainModule } from './entry.js';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface HotFunction {
  name: string;
  location: string;
  selfMs: number;
  selfPercent: number;
}

function label(cf: CallFrame): { name: string; location: string } {
  const name = cf.functionName || (cf.url ? '(anonymous)' : '(native)');
  const url = cf.url.replace(/^file:\/\//, '').replace(/^.*\/node_modules\//, '~/').replace(/^.*\/packages\//, 'packages/');
  return { name, location: url ? `${url}:${cf.lineNumber + 1}` : '' };
}

/** Self time per function (merged across call sites), highest first. */
export function hotFunctions(p: CpuProfile, top = 25): HotFunction[] {
  const byNode = new Map<number, CallFrame>();
  for (const n of p.nodes) byNode.set(n.id, n.callFrame);
  const self = new Map<string, { name: string; location: string; us: number }>();
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const cf = byNode.get(p.samples[i] as number);
    const dt = p.timeDeltas[i] ?? 0;
    if (!cf || dt < 0) continue;
    total += dt;
    const l = label(cf);
    const key = `${l.name}@${l.location}`;
    const e = self.get(key);
    if (e) e.us += dt;
    else self.set(key, { ...l, us: dt });
  }
  return [...self.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, top)
    .map((e) => ({ name: e.name, location: e.location, selfMs: Math.round(e.us / 100) / 10, selfPercent: total > 0 ? Math.round((e.us / total) * 1000) / 10 : 0 }));
}

export function formatHot(list: HotFunction[]): string {
  return list.map((h) => `${h.selfPercent.toFixed(1).padStart(5)}%  ${String(h.selfMs).padStart(9)} ms  ${h.name}  ${h.location}`).join('\n');
}

if (isMainModule(import.meta.url)) {
  const args = process.argv.slice(2);
  const ti = args.indexOf('--top');
  const top = ti >= 0 ? Number(args[ti + 1]) : 25;
  const files = args.filter((a, i) => a !== '--top' && (ti < 0 || i !== ti + 1));
  if (files.length === 0) {
    process.stderr.write('usage: profile.js <file.cpuprofile>... [--top N]\n');
    process.exit(2);
  }
  for (const f of files) {
    const p = JSON.parse(readFileSync(f, 'utf8')) as CpuProfile;
    process.stdout.write(`${f} (${((p.endTime - p.startTime) / 1e6).toFixed(1)} s)\n${formatHot(hotFunctions(p, top))}\n\n`);
  }
}
