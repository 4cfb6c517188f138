#!/usr/bin/env node
/**
 * Self time of a V8 .cpuprofile grouped by where it runs — Herald's own
 * files, each dependency, Node's http/net/streams, syscalls, GC, start-up —
 * with the top functions of the groups that matter for a publish. Idle and
 * start-up (module loading) are excluded from the percentages, so two
 * profiles of different lengths compare by share of the busy time.
 *
 *   node scripts/profile-groups.mjs <file.cpuprofile> [--top 20]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({ options: { top: { type: 'string', default: '20' } }, allowPositionals: true });
const top = Number(values.top);

const STARTUP = /compileSourceTextModule|wrapSafe|compileForInternalLoader|Module\._|internalModule|readPackage|resolvePackage|getPackageScopeConfig|parseSource|realpathSync|defaultLoad|cjsLoader|fileURLToPath|moduleResolve|lstat|openFileHandle|readFileUtf8|fstat/;
const SYSCALL = new Set(['writev', 'writeBuffer', 'writeUtf8String', 'read', 'close', 'readStart']);

function group(cf) {
  const name = cf.functionName;
  const url = cf.url;
  if (name === '(idle)') return 'idle';
  if (name === '(garbage collector)') return 'gc';
  if (name === '(program)') return 'program';
  if (STARTUP.test(name) || /node:internal\/modules|node:internal\/bootstrap/.test(url)) return 'startup';
  if (!url && SYSCALL.has(name)) return 'syscall ' + name;
  const dep = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (dep) return 'dep ' + dep[1];
  const own = /(?:packages|\.perf-[a-z0-9]+)\/([^/]+)\/dist\/(.+)\.js$/.exec(url);
  if (own) return `herald ${own[1]}/${own[2]}`;
  if (/^node:(_http|http|net|internal\/streams|stream|events|internal\/process\/task_queues|internal\/timers|timers)/.test(url)) return 'node http/net/streams/events';
  if (url.startsWith('node:')) return 'node other';
  return url ? 'other' : 'native ' + (name || '?');
}

for (const file of positionals) {
  const p = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(p.nodes.map((n) => [n.id, n.callFrame]));
  const groups = new Map();
  const fns = new Map();
  let busy = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const cf = byId.get(p.samples[i]);
    const dt = p.timeDeltas[i] ?? 0;
    if (!cf || dt < 0) continue;
    const g = group(cf);
    groups.set(g, (groups.get(g) ?? 0) + dt);
    if (g === 'idle' || g === 'startup') continue;
    busy += dt;
    const key = `${cf.functionName || '(anonymous)'} ${cf.url.replace(/^.*\/(packages|node_modules|\.perf-[a-z0-9]+)\//, '')}:${cf.lineNumber + 1}`;
    fns.set(key, (fns.get(key) ?? 0) + dt);
  }
  const pct = (us) => ((us / busy) * 100).toFixed(1).padStart(5) + '%';
  process.stdout.write(`${file}\nbusy ${(busy / 1000).toFixed(0)} ms (idle ${((groups.get('idle') ?? 0) / 1000).toFixed(0)} ms, start-up ${((groups.get('startup') ?? 0) / 1000).toFixed(0)} ms excluded)\n`);
  process.stdout.write('-- by group\n');
  for (const [g, us] of [...groups].filter(([g]) => g !== 'idle' && g !== 'startup').sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`${pct(us)}  ${g}\n`);
  process.stdout.write('-- functions\n');
  for (const [f, us] of [...fns].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`${pct(us)}  ${f}\n`);
  process.stdout.write('\n');
}
