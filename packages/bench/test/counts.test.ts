import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { parseCallgrindSummary } from '../src/callgrind.js';
import { countCases, publishDeadlineSec } from '../src/counts.js';
import { countRows, formatCount, formatCountsTable } from '../src/countsTable.js';
import type { TargetCounts } from '../src/countsTable.js';
import { parsePerfCsv } from '../src/perfStat.js';
import { HERALD_BIN, heraldBinPath } from '../src/spawn.js';

test('perf stat -x, output: counts by event, "<not supported>" as null, comments and blanks ignored', () => {
  const text = [
    '# started on Tue Dec  1',
    'Events disabled',
    '<not supported>,,instructions:u,0,100.00,,',
    '705,,raw_syscalls:sys_enter,127739021,100.00,5.519,K/sec',
    '127.74,msec,task-clock,127739021,100.00,0.587,CPUs utilized',
    '',
  ].join('\n');
  const m = parsePerfCsv(text);
  assert.equal(m.get('instructions:u'), null);
  assert.equal(m.get('raw_syscalls:sys_enter'), 705);
  assert.equal(m.get('task-clock'), 127.74);
  assert.equal(m.size, 3);
});

test('callgrind dump: the summary line is the instruction count', () => {
  assert.equal(parseCallgrindSummary('events: Ir\nsummary: 79802695\ntotals: 79802695\n'), 79802695);
  assert.equal(parseCallgrindSummary('events: Ir\n'), undefined);
});

function counts(target: TargetCounts['target'], delivered: number, perf: Record<string, number | null>): TargetCounts {
  return { target, held: 10, errors: {}, published: delivered, accepted: delivered, expectedDeliveries: delivered, delivered, phaseSeconds: 1, perf };
}

test('figures are per delivery; reliable is compared with raw unicast; unmeasured figures are left out', () => {
  const rows = countRows([
    { name: 'unicast', counts: { raw: counts('raw', 1000, { 'raw_syscalls:sys_enter': 4000, 'syscalls:sys_enter_write': 1000, 'syscalls:sys_enter_writev': 1000, 'instructions:u': null }), herald: counts('herald', 500, { 'raw_syscalls:sys_enter': 2500, 'syscalls:sys_enter_write': 1000 }) } },
    { name: 'reliable', counts: { herald: counts('herald', 100, { 'raw_syscalls:sys_enter': 600 }) } },
  ]);
  const get = (c: string, f: string): (typeof rows)[number] | undefined => rows.find((r) => r.case === c && r.figure === f);
  assert.deepEqual(get('unicast', 'syscalls (all)')?.values, { raw: 4, herald: 5 });
  assert.equal(get('unicast', 'syscalls (all)')?.base, 4);
  // writes = write + writev + sendto + sendmsg
  assert.deepEqual(get('unicast', 'syscalls: writes')?.values, { raw: 2, herald: 2 });
  assert.equal(get('unicast', 'user instructions (perf)'), undefined, 'not supported anywhere: no row');
  assert.equal(get('reliable', 'syscalls (all)')?.base, 4, 'reliable vs raw ws unicast');
  const table = formatCountsTable(rows, ['raw', 'herald']);
  assert.match(table, /\| unicast +\| syscalls \(all\) +\| 4 +\| 5 \(1\.25×\) +\|/);
  assert.match(table, /\| reliable +\| syscalls \(all\) +\| unicast: 4 +\| 6 \(1\.50×\) +\|/);
  assert.match(table, /\| unicast +\| delivered \(count\) +\| 1,000 +\| 500 +\|/);
});

test('count formatting: three significant figures, separators from 100 up', () => {
  assert.equal(formatCount(0.0052512), '0.00525');
  assert.equal(formatCount(1.0149), '1.01');
  assert.equal(formatCount(12_345.6), '12,346');
  assert.equal(formatCount(undefined), 'n/a');
});

test('the fixed workloads: same for every target, smaller under callgrind, reliable Herald only', () => {
  const perf = countCases(false);
  const by = Object.fromEntries(perf.map((c) => [c.name, c]));
  assert.deepEqual(by.broadcast?.targets, ['raw', 'socketio', 'herald']);
  assert.equal(by.broadcast?.rate, 0);
  assert.equal(by.unicast?.messages, 2000);
  assert.deepEqual(by.reliable?.targets, ['herald']);
  assert.equal(by.reliable?.reliable, true);
  const cg = countCases(true);
  assert.ok(cg.every((c, i) => c.messages < (perf[i]?.messages ?? 0) && c.connections < (perf[i]?.connections ?? 0)));
  assert.equal(countCases(false, 0.1, 300).find((c) => c.name === 'unicast')?.rate, 300);
  // 2,000 at 500/s: 3 × 4 s + 240 s slack; never above the bench's duration limit.
  assert.equal(publishDeadlineSec(by.unicast as NonNullable<typeof by.unicast>, false), 252);
  assert.equal(publishDeadlineSec({ ...(by.unicast as NonNullable<typeof by.unicast>), messages: 1e6 }, false), 600);
});

test('the Herald build: flag, else HERALD_BENCH_BIN, else this checkout', () => {
  const saved = process.env.HERALD_BENCH_BIN;
  try {
    delete process.env.HERALD_BENCH_BIN;
    assert.equal(heraldBinPath(), HERALD_BIN);
    process.env.HERALD_BENCH_BIN = '/elsewhere/packages/server/bin/herald.js';
    assert.equal(heraldBinPath(), '/elsewhere/packages/server/bin/herald.js');
    assert.equal(heraldBinPath('rel/herald.js'), resolve('rel/herald.js'));
  } finally {
    if (saved === undefined) delete process.env.HERALD_BENCH_BIN;
    else process.env.HERALD_BENCH_BIN = saved;
  }
});
