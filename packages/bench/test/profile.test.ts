import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hotFunctions } from '../src/profile.js';
import type { CpuProfile } from '../src/profile.js';

test('self time is summed per function across call sites and sorted', () => {
  const cf = (functionName: string, url: string, lineNumber: number) => ({ functionName, url, lineNumber });
  const p: CpuProfile = {
    nodes: [
      { id: 1, callFrame: cf('(root)', '', -1), children: [2, 3] },
      { id: 2, callFrame: cf('fanOut', 'file:///x/packages/server/dist/gateway/fanout.js', 9), children: [4] },
      { id: 3, callFrame: cf('send', 'file:///x/node_modules/ws/lib/sender.js', 99) },
      { id: 4, callFrame: cf('send', 'file:///x/node_modules/ws/lib/sender.js', 99) },
    ],
    samples: [2, 3, 4, 4, 1],
    timeDeltas: [1000, 2000, 3000, 4000, 0],
    startTime: 0,
    endTime: 10_000,
  };
  const hot = hotFunctions(p, 10);
  assert.deepEqual(hot[0], { name: 'send', location: '~/ws/lib/sender.js:100', selfMs: 9, selfPercent: 90 });
  assert.deepEqual(hot[1], { name: 'fanOut', location: 'packages/server/dist/gateway/fanout.js:10', selfMs: 1, selfPercent: 10 });
  assert.equal(hot.length, 3);
});
