import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../src/rng.js';

test('a seed replays the same sequence; another seed does not', () => {
  const draw = (seed: number): number[] => {
    const r = new Rng(seed);
    return [r.u32(), r.int(0, 100), r.next(), ...r.shuffle([1, 2, 3, 4, 5, 6, 7, 8]), r.text(8).length];
  };
  assert.deepEqual(draw(42), draw(42));
  assert.notDeepEqual(draw(42), draw(43));
});

test('forks are deterministic and independent of draws on the parent', () => {
  const a = new Rng(7);
  const b = new Rng(7);
  b.u32();
  b.u32();
  assert.equal(a.fork('x').u32(), b.fork('x').u32());
  assert.notEqual(a.fork('x').u32(), a.fork('y').u32());
});

test('int stays in bounds and reaches both ends', () => {
  const r = new Rng(1);
  const seen = new Set<number>();
  for (let i = 0; i < 2000; i++) {
    const v = r.int(3, 7);
    assert.ok(v >= 3 && v <= 7);
    seen.add(v);
  }
  assert.deepEqual([...seen].sort(), [3, 4, 5, 6, 7]);
});
