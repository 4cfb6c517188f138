import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { fullJitterDelay } from '../src/backoff.js';
import { SeqWatermark } from '../src/dedupe.js';
import { decodeClaims, isExpired } from '../src/token.js';
import { buildSocketUrl } from '../src/url.js';
import { memoryStore, webStorageStore } from '../src/storage.js';
import { TypedEmitter } from '../src/events.js';
import { fakeJwt } from './helpers/wait.js';

test('full-jitter delay stays in [0, min(max, min·2^attempt)) and reaches the cap', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 200 }), fc.double({ min: 0, max: 0.9999999, noNaN: true }), (attempt, r) => {
      const opts = { minDelayMs: 500, maxDelayMs: 20_000 };
      const d = fullJitterDelay(attempt, opts, () => r);
      const cap = Math.min(20_000, 500 * 2 ** Math.min(attempt, 30));
      return Number.isInteger(d) && d >= 0 && d < cap;
    }),
  );
  assert.equal(fullJitterDelay(0, { minDelayMs: 500, maxDelayMs: 20_000 }, () => 0.5), 250);
  assert.equal(fullJitterDelay(3, { minDelayMs: 500, maxDelayMs: 20_000 }, () => 0.5), 2000);
  assert.equal(fullJitterDelay(1000, { minDelayMs: 500, maxDelayMs: 20_000 }, () => 0.5), 10_000);
});

test('the watermark delivers each seq at most once and in increasing order, whatever the arrival order', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 1, max: 50 }), { maxLength: 200 }), (arrivals) => {
      const w = new SeqWatermark();
      const delivered = arrivals.filter((s) => w.accept(s));
      for (let i = 1; i < delivered.length; i++) if (delivered[i]! <= delivered[i - 1]!) return false;
      return w.value === (delivered.at(-1) ?? 0);
    }),
  );
  const w = new SeqWatermark(10);
  assert.equal(w.accept(10), false);
  w.reset(3);
  assert.equal(w.accept(4), true);
});

test('token claims are read without verification; garbage gives null', () => {
  assert.deepEqual(decodeClaims(fakeJwt({ sub: 'ü-user', tid: 't1', did: 'd', exp: 100 })), { sub: 'ü-user', tid: 't1', did: 'd', exp: 100 });
  assert.equal(decodeClaims('not-a-jwt'), null);
  assert.equal(decodeClaims('a.!!!.c'), null);
  assert.equal(isExpired({ exp: 100 }, 99_000), true, 'within the 5 s skew counts as expired');
  assert.equal(isExpired({ exp: 100 }, 90_000), false);
  assert.equal(isExpired({}, Date.now()), false);
});

test('socket URLs: http→ws, bare origin gets /ws, params appended and encoded', () => {
  assert.equal(buildSocketUrl('http://h:8080', { device: 'd 1', last_seq: undefined }), 'ws://h:8080/ws?device=d+1');
  assert.equal(buildSocketUrl('https://h/push/ws?x=1', { last_seq: '5' }), 'wss://h/push/ws?x=1&last_seq=5');
  assert.equal(buildSocketUrl('ws://h/ws', {}), 'ws://h/ws');
});

test('stores: memory round-trips; web storage ignores garbage', () => {
  const m = memoryStore();
  assert.equal(m.get('k'), null);
  void m.set('k', 7);
  assert.equal(m.get('k'), 7);
  const backing = new Map<string, string>();
  const w = webStorageStore({ getItem: (k) => backing.get(k) ?? null, setItem: (k, v) => void backing.set(k, v) });
  void w.set('a', 12);
  assert.equal(backing.get('a'), '12');
  assert.equal(w.get('a'), 12);
  backing.set('b', 'nonsense');
  assert.equal(w.get('b'), null);
});

test('emitter: on/once/off, listeners removing themselves, errors isolated', () => {
  class E extends TypedEmitter<{ x: number }> {
    errors: unknown[] = [];
    fire(n: number) {
      this.emit('x', n);
    }
    protected override onListenerError(_e: 'x', err: unknown) {
      this.errors.push(err);
    }
  }
  const e = new E();
  const seen: string[] = [];
  e.once('x', (n) => seen.push(`once${n}`));
  const off = e.on('x', (n) => seen.push(`on${n}`));
  e.on('x', () => {
    throw new Error('bad');
  });
  e.fire(1);
  off();
  e.fire(2);
  assert.deepEqual(seen, ['once1', 'on1']);
  assert.equal(e.errors.length, 2);
  assert.equal(e.listenerCount('x'), 1);
});
