import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Pacer } from '../src/pacer.js';

test('sends are due on a fixed timeline from the start', () => {
  const p = new Pacer(1000, 0);
  assert.equal(p.due(0), 1, 'send 0 is due at t=0');
  p.take(1);
  assert.equal(p.due(0.5), 0);
  assert.equal(p.due(1), 1);
  assert.equal(p.due(10), 10, 'a late tick catches up instead of lowering the rate');
  p.take(10);
  assert.equal(p.sent, 11);
  assert.equal(p.due(10.9), 0);
  assert.equal(p.msUntilNext(10.5), 0.5);
});

test('total achieved over a simulated second equals the rate, whatever the tick spacing', () => {
  for (const step of [0.3, 1, 7, 50]) {
    const p = new Pacer(5000, 0);
    let now = 0;
    while (now <= 1000) {
      p.take(p.due(now));
      now += step;
    }
    p.take(p.due(1000));
    assert.equal(p.sent, 5001, `step ${step} ms`);
    assert.equal(p.skipped, 0);
  }
});

test('the limit stops the pacer', () => {
  const p = new Pacer(100, 0, 5);
  assert.equal(p.due(1_000_000), 5);
  p.take(5);
  assert.equal(p.done, true);
  assert.equal(p.due(2_000_000), 0);
});

test('a backlog beyond maxBacklog is skipped and counted, not burst later', () => {
  const p = new Pacer(1000, 0, Number.POSITIVE_INFINITY, 10);
  p.take(p.due(0));
  // The sender stalls for 100 ms: 100 sends owed, only 10 kept.
  assert.equal(p.due(100), 10);
  assert.equal(p.skipped, 90);
  p.take(10);
  assert.equal(p.due(100), 0);
  assert.equal(p.sent + p.skipped, 101);
});

test('rate 0 is unpaced: everything up to the limit is due', () => {
  const p = new Pacer(0, 0, 7);
  assert.equal(p.due(0), 7);
  p.take(3);
  assert.equal(p.due(0), 4);
  assert.equal(p.msUntilNext(0), 0);
});
