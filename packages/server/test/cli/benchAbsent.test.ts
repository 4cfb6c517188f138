/**
 * `herald bench` without the bench package (an installed server: @herald/bench
 * is a private workspace, never published) answers one line and a non-zero
 * exit instead of a stack. The installed case runs in packaging/tarball.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { benchCommand } from '../../src/cli/bench.js';

test('herald bench: an absent bench package is one line on stderr and exit 2', async () => {
  const written: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((s: string) => (written.push(String(s)), true)) as typeof process.stderr.write;
  let code: number;
  try {
    code = await benchCommand(['--help'], '@herald/bench-not-installed');
  } finally {
    process.stderr.write = write;
  }
  assert.equal(code, 2);
  assert.equal(written.length, 1);
  assert.match(written[0]!, /^herald bench: the benchmark package @herald\/bench-not-installed is not installed; .*\n$/);
});

test('herald bench: any other failure loading the package still surfaces in full', async () => {
  // A package that exists but whose module fails to load is not "absent".
  await assert.rejects(benchCommand([], 'data:text/javascript,throw new Error("broken bench")'), /broken bench/);
});
