import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { jsonTextDepthExceeds, jsonValueDepthExceeds } from '../../src/protocol/jsonDepth.js';

const nest = (n: number) => '['.repeat(n) + ']'.repeat(n);

test('text depth: brackets inside strings do not count, escapes are skipped', () => {
  assert.equal(jsonTextDepthExceeds(nest(32), 32), false);
  assert.equal(jsonTextDepthExceeds(nest(33), 32), true);
  assert.equal(jsonTextDepthExceeds(`{"a":"${'['.repeat(100)}"}`, 2), false);
  assert.equal(jsonTextDepthExceeds(`{"a":"\\"[[[[","b":[1]}`, 2), false);
  assert.equal(jsonTextDepthExceeds(`{"a":{"b":{"c":1}}}`, 2), true);
  assert.equal(jsonTextDepthExceeds(nest(100_000), 32), true); // no recursion, no stack overflow
  // More openers than the bound in all, but not nested that deep (past the opener count's shortcut).
  assert.equal(jsonTextDepthExceeds(`[${Array(40).fill('{}').join(',')}]`, 2), false);
  assert.equal(jsonTextDepthExceeds(`[${Array(40).fill('[]').join(',')},[[1]]]`, 2), true);
  assert.equal(jsonTextDepthExceeds(`{"a":{"b":"[[[["}}`, 2), false);
  assert.equal(jsonTextDepthExceeds(`{"a":{"b":"{{{{"},"c":[[1]]}`, 2), true);
});

test('value depth: scalars 0, containers count, huge nesting does not overflow', () => {
  assert.equal(jsonValueDepthExceeds(5, 0), false);
  assert.equal(jsonValueDepthExceeds([], 0), true);
  assert.equal(jsonValueDepthExceeds({ a: [1, { b: 2 }] }, 3), false);
  assert.equal(jsonValueDepthExceeds({ a: [1, { b: 2 }] }, 2), true);
  assert.equal(jsonValueDepthExceeds(JSON.parse(nest(50_000)), 32), true);
});

test('text and value depth agree on any JSON value', () => {
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 8 }), fc.integer({ min: 0, max: 10 }), (v, max) => {
      const text = JSON.stringify(v);
      assert.equal(jsonTextDepthExceeds(text, max), jsonValueDepthExceeds(v, max));
    }),
  );
});
