/**
 * Summarises a V8 .cpuprofile (from `--cpu-prof`) into the functions with the
 * most self time, so a bench run's profile can be read without DevTools:
 *   node packages/bench/dist/profile.js artifacts/bench/profiles/<case>/*.cpuprofile [--top 25] [--md]
 * Also by file and by package (a node_modules package, a workspace package,
 * node's own internals, native code, or V8's idle / GC / program entries), and as markdown:
 * `bench:compare --cpu-prof` writes one summary per case and server with it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
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

export interface HotGroup {
  /** A file (location without line) or a package. */
  name: string;
  selfMs: number;
  selfPercent: number;
}

/** V8's own entries in a profile: not JavaScript, kept apart (idle is not CPU use). */
const ENGINE_ENTRIES = new Set(['(idle)', '(garbage collector)', '(program)', '(root)']);

/** The package a location belongs to: ~/<pkg> (node_modules), packages/<name>, node:internal, or (engine). */
export function packageOf(location: string, name = ''): string {
  if (location === '') return ENGINE_ENTRIES.has(name) ? name : '(native: builtins, C++)';
  if (location.startsWith('~/')) {
    const parts = location.slice(2).split('/');
    return `~/${parts[0]?.startsWith('@') ? `${parts[0]}/${parts[1] ?? ''}` : (parts[0] ?? '')}`;
  }
  if (location.startsWith('packages/')) return location.split('/').slice(0, 2).join('/');
  if (location.startsWith('node:')) return 'node: internals';
  return location.replace(/:\d+$/, '');
}

/** Self time summed per file (`by: 'file'`) or per package, highest first. */
export function hotGroups(p: CpuProfile, by: 'file' | 'package', top = 15): HotGroup[] {
  const all = hotFunctions(p, Number.POSITIVE_INFINITY);
  const total = all.reduce((a, h) => a + h.selfMs, 0);
  const sums = new Map<string, number>();
  for (const h of all) {
    const key = by === 'file' && h.location !== '' ? h.location.replace(/:\d+$/, '') : packageOf(h.location, h.name);
    sums.set(key, (sums.get(key) ?? 0) + h.selfMs);
  }
  return [...sums.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, ms]) => ({ name, selfMs: Math.round(ms * 10) / 10, selfPercent: total > 0 ? Math.round((ms / total) * 1000) / 10 : 0 }));
}

/** A markdown summary of one profile: top functions, files and packages by self time. */
export function profileMarkdown(title: string, p: CpuProfile, top = 15): string {
  const seconds = ((p.endTime - p.startTime) / 1e6).toFixed(1);
  const fn = hotFunctions(p, top).map((h) => `| ${h.selfPercent.toFixed(1)}% | ${h.selfMs} | \`${h.name}\` | ${h.location} |`);
  const grp = (by: 'file' | 'package'): string[] => hotGroups(p, by, top).map((g) => `| ${g.selfPercent.toFixed(1)}% | ${g.selfMs} | ${g.name} |`);
  return [
    `### ${title} (${seconds} s profiled)`,
    '',
    '| self | ms | function | location |',
    '|---|---|---|---|',
    ...fn,
    '',
    '| self | ms | package |',
    '|---|---|---|',
    ...grp('package'),
    '',
    '| self | ms | file |',
    '|---|---|---|',
    ...grp('file'),
    '',
  ].join('\n');
}

/** Markdown summaries of every .cpuprofile in `dir` (one per server process), '' if there is none. */
export function summariseProfileDir(dir: string, title: string, top = 15): string {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).sort();
  } catch {
    return '';
  }
  return files.map((f) => profileMarkdown(files.length > 1 ? `${title}: ${f}` : title, JSON.parse(readFileSync(join(dir, f), 'utf8')) as CpuProfile, top)).join('\n');
}

export function formatHot(list: HotFunction[]): string {
  return list.map((h) => `${h.selfPercent.toFixed(1).padStart(5)}%  ${String(h.selfMs).padStart(9)} ms  ${h.name}  ${h.location}`).join('\n');
}

if (isMainModule(import.meta.url)) {
  const args = process.argv.slice(2);
  const ti = args.indexOf('--top');
  const top = ti >= 0 ? Number(args[ti + 1]) : 25;
  const md = args.includes('--md');
  const files = args.filter((a, i) => a !== '--top' && a !== '--md' && (ti < 0 || i !== ti + 1));
  if (files.length === 0) {
    process.stderr.write('usage: profile.js <file.cpuprofile>... [--top N] [--md]\n');
    process.exit(2);
  }
  for (const f of files) {
    const p = JSON.parse(readFileSync(f, 'utf8')) as CpuProfile;
    if (md) process.stdout.write(`${profileMarkdown(f, p, top)}\n`);
    else {
      const groups = hotGroups(p, 'package', 10).map((g) => `${g.selfPercent.toFixed(1).padStart(5)}%  ${String(g.selfMs).padStart(9)} ms  ${g.name}`);
      process.stdout.write(`${f} (${((p.endTime - p.startTime) / 1e6).toFixed(1)} s)\n${formatHot(hotFunctions(p, top))}\n\nby package:\n${groups.join('\n')}\n\n`);
    }
  }
}
