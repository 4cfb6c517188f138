#!/usr/bin/env node
/**
 * Splits a callgrind dump's instructions into V8's optimizing compiler (and
 * interpreter/parser), the garbage collector, and the rest (JavaScript,
 * builtins, Node's C++, libuv, syscall entry), so that runs under valgrind —
 * where V8 keeps compiling through a measured phase — compare on "rest".
 * With a dump kept by scripts/hotpath-instructions.mjs --keep <f>, pass <f>
 * and <f>.idle and the number of deliveries: prints each part minus idle, per delivery.
 *
 *   node scripts/callgrind-split.mjs /tmp/cg/unicast.cg /tmp/cg/unicast.cg.idle 600
 */
import { execFileSync } from 'node:child_process';

const COMPILER = /v8::internal::compiler::|v8::internal::maglev|Turbofan|OptimizedCompilationJob|v8::internal::Compiler|BytecodeGenerator|v8::internal::interpreter::|v8::internal::Parser|v8::internal::Scanner|v8::internal::baseline/;
const GC = /Marking|Sweeper|Scavenger|v8::internal::Heap::|MarkCompact|Evacuat|ConcurrentMarking|v8::internal::GC|RememberedSet|SlotSet|MemoryChunk|PagedSpace|Compactor|__memset/;

function split(file) {
  const out = execFileSync('callgrind_annotate', ['--threshold=100', file], { maxBuffer: 256 * 1024 * 1024 }).toString();
  const parts = { total: 0, compiler: 0, gc: 0, rest: 0 };
  for (const line of out.split('\n')) {
    const m = /^\s*([\d,]+) (?:\(|\s)/.exec(line);
    if (!m) continue;
    const v = Number(m[1].replaceAll(',', ''));
    if (line.includes('PROGRAM TOTALS')) parts.total = v;
    else if (COMPILER.test(line)) parts.compiler += v;
    else if (GC.test(line)) parts.gc += v;
    else parts.rest += v;
  }
  return parts;
}

const [measured, idle, n] = process.argv.slice(2);
if (!measured) {
  process.stderr.write('usage: callgrind-split.mjs <dump> [<idle dump> <deliveries>]\n');
  process.exit(2);
}
const a = split(measured);
if (!idle) {
  process.stdout.write(JSON.stringify(a) + '\n');
  process.exit(0);
}
const b = split(idle);
const per = (k) => Math.round((a[k] - b[k]) / Number(n)).toLocaleString('en-US');
process.stdout.write(`per delivery, minus idle: total ${per('total')}, compiler ${per('compiler')}, gc ${per('gc')}, rest ${per('rest')}\n`);
