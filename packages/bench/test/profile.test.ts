import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hotFunctions, hotGroups, packageOf, profileMarkdown } from '../src/profile.js';
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

test('self time by package and by file; V8 entries apart from native code', () => {
  const cf = (functionName: string, url: string, lineNumber: number) => ({ functionName, url, lineNumber });
  const p: CpuProfile = {
    nodes: [
      { id: 1, callFrame: cf('(root)', '', -1), children: [2, 3, 5, 6, 7] },
      { id: 2, callFrame: cf('fanOut', 'file:///x/packages/server/dist/gateway/fanout.js', 9), children: [4] },
      { id: 3, callFrame: cf('send', 'file:///x/node_modules/ws/lib/sender.js', 99) },
      { id: 4, callFrame: cf('frame', 'file:///x/node_modules/ws/lib/sender.js', 10) },
      { id: 5, callFrame: cf('(idle)', '', -1) },
      { id: 6, callFrame: cf('stringify', '', -1) },
      { id: 7, callFrame: cf('parse', 'file:///x/node_modules/@scope/pkg/index.js', 1) },
    ],
    samples: [2, 3, 4, 5, 6, 7],
    timeDeltas: [1000, 2000, 3000, 2000, 1000, 1000],
    startTime: 0,
    endTime: 10_000,
  };
  assert.deepEqual(hotGroups(p, 'package'), [
    { name: '~/ws', selfMs: 5, selfPercent: 50 },
    { name: '(idle)', selfMs: 2, selfPercent: 20 },
    { name: 'packages/server', selfMs: 1, selfPercent: 10 },
    { name: '(native: builtins, C++)', selfMs: 1, selfPercent: 10 },
    { name: '~/@scope/pkg', selfMs: 1, selfPercent: 10 },
  ]);
  assert.deepEqual(hotGroups(p, 'file', 1), [{ name: '~/ws/lib/sender.js', selfMs: 5, selfPercent: 50 }]);
  assert.equal(packageOf('node:internal/streams/writable:10'), 'node: internals');
  const md = profileMarkdown('broadcast: Herald', p, 3);
  assert.match(md, /^### broadcast: Herald \(0\.0 s profiled\)/);
  assert.match(md, /\| 30\.0% \| 3 \| `frame` \| ~\/ws\/lib\/sender\.js:11 \|/);
  assert.match(md, /\| 50\.0% \| 5 \| ~\/ws \|/);
});
