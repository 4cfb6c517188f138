/** The soak's pure parts: the flatness verdict (it must be able to fail), the fleet's protocol mix, /proc readings of a process group. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { flatness, median, TOLERANCES } from '../src/soak/flatness.js';
import type { Sample } from '../src/soak/sampler.js';
import { Fleet } from '../src/clients.js';
import { Rng } from '../src/rng.js';
import { alive, groupPids, openFds, processRss } from '../src/procfs.js';
import { waitFor, withTimeout } from '../src/wait.js';

/** 60 samples, one per 10 s, of `f(t)` for node a. */
const series = (f: (t: number) => number, extra: Partial<Sample> = {}): Sample[] => Array.from({ length: 60 }, (_, i) => ({ t: i * 10, node: 'a', rssMiB: f(i * 10), ...extra }));

test('median', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 2, 3]), 2.5);
  assert.ok(Number.isNaN(median([])));
});

test('flatness: a flat series passes, a growing one fails, a falling one passes', () => {
  const noisy = (t: number): number => 100 + ((t * 7919) % 13) - 6;
  const [flat] = flatness(series(noisy), 100);
  assert.equal(flat?.metric, 'rssMiB');
  assert.equal(flat?.flat, true);
  // +10 MiB a minute after warm-up: ~+80 MiB over the run, beyond ×1.2 + 16.
  const [grows] = flatness(series((t) => 100 + Math.max(0, t - 100) / 6), 100);
  assert.equal(grows?.flat, false);
  assert.ok(grows!.lastThird > grows!.limit);
  const [falls] = flatness(series((t) => 200 - t / 10), 100);
  assert.equal(falls?.flat, true);
  // Warm-up growth does not count.
  const [warm] = flatness(series((t) => (t < 100 ? 50 + t : 150)), 100);
  assert.equal(warm?.flat, true);
});

test('flatness: start/end/median over the whole run; down samples ignored; too few samples is not flat', () => {
  const s = series((t) => t);
  s.push({ t: 600, node: 'a', down: true });
  const [st] = flatness(s, 0);
  assert.equal(st?.start, 0);
  assert.equal(st?.end, 590);
  assert.equal(st?.samples, 60);
  const [few] = flatness(series((t) => t).slice(0, 4), 0);
  assert.equal(few?.flat, false);
  assert.equal(flatness([{ t: 0, node: 'redis', usedMemoryMiB: 1 }], 0, TOLERANCES)[0]?.metric, 'usedMemoryMiB');
});

test('a fleet puts a seeded share of its devices on binary v2, the same share for the same seed', () => {
  const mix = (seed: number, share: number): string[] => {
    const f = new Fleet({ url: 'ws://127.0.0.1:1/ws', jwtSecret: 'x'.repeat(32), rng: new Rng(seed), publishIndex: () => 0, binaryShare: share });
    for (let i = 0; i < 200; i++) f.add({ tenant: 't1', user: `u${i}`, device: 'd0' });
    const out = f.devices.map((d) => d.spec.protocol ?? '?');
    f.closeAll();
    return out;
  };
  const a = mix(5, 0.3);
  assert.deepEqual(mix(5, 0.3), a);
  const binary = a.filter((p) => p === 'binary').length;
  assert.ok(binary > 30 && binary < 90, `${binary} of 200 on binary`);
  assert.equal(mix(5, 0).filter((p) => p === 'binary').length, 0);
});

test('procfs: a process and its children, their RSS and open files; a killed group is gone', async () => {
  // A shell leading its own group with a child sleeping: the shape of a workers node.
  const p = spawn('sh', ['-c', 'sleep 30 & wait'], { detached: true, stdio: 'ignore' });
  try {
    const pids = await waitFor('child started', () => (groupPids(p.pid!).length === 2 ? groupPids(p.pid!) : undefined), 5000);
    assert.equal(pids[0], p.pid);
    assert.ok(pids.every((x) => processRss(x) > 0 && openFds(x) >= 0));
    process.kill(-p.pid!, 'SIGKILL');
    await waitFor('group gone', () => pids.every((x) => !alive(x)), 5000);
    assert.equal(processRss(999_999_999), 0);
  } finally {
    try {
      process.kill(-p.pid!, 'SIGKILL');
    } catch {
      // gone
    }
  }
});

test('a closed device stays closed: a connect queued before the end of a scenario does not bring it back', async () => {
  const f = new Fleet({ url: 'ws://127.0.0.1:1/ws', jwtSecret: 'x'.repeat(32), rng: new Rng(1), publishIndex: () => 0 });
  const d = f.add({ tenant: 't1', user: 'u', device: 'd0' });
  f.closeAll();
  try {
    await withTimeout('connect() of a closed device', d.connect(), 2000);
    assert.notEqual(d.client.state, 'connecting');
    assert.notEqual(d.client.state, 'connected');
  } finally {
    d.client.close();
  }
});

test('fdsNet: open files beyond the client sockets — more clients is not a leak, more other files is', () => {
  // fds follow the connection count (20 → 100) while the rest stays at 30: flat.
  const busy = Array.from({ length: 60 }, (_, i) => ({ t: i * 10, node: 'a', fds: 30 + (i < 30 ? 20 : 100), connections: i < 30 ? 20 : 100 }));
  const byMetric = (s: Sample[]): Record<string, boolean> => Object.fromEntries(flatness(s, 0).map((x) => [x.metric, x.flat]));
  assert.deepEqual(byMetric(busy), { fds: false, fdsNet: true });
  // 60 more files with the same clients: not flat.
  const leak = busy.map((s, i) => ({ ...s, fds: s.fds + (i >= 40 ? 60 : 0) }));
  assert.equal(byMetric(leak).fdsNet, false);
});
