/**
 * Write coalescing (protocol/writeCoalescing.ts): the frames written to one
 * socket in one event-loop turn go out as one writev, in order, counted in
 * `writableLength` while held (the outbound limit reads it), and a burst past
 * EARLY_FLUSH_BYTES is handed over without waiting for the turn to end.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Socket, type AddressInfo } from 'node:net';
import { DIRECT_PROBE_WRITES, EARLY_FLUSH_BYTES, QUIET_TURNS, heldSocketCount, holdWrites, probing, writingDirectly } from '../../src/protocol/writeCoalescing.js';

interface Pair {
  writer: Socket;
  received: () => Buffer;
  /** Calls of the socket's _write (one chunk) and _writev (several), and the chunk count of each writev. */
  calls: { write: number; writev: number[] };
  close: () => Promise<void>;
}

async function pair(): Promise<Pair> {
  const chunks: Buffer[] = [];
  const server = createServer((s) => s.on('data', (d: Buffer) => chunks.push(d)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const writer = connect((server.address() as AddressInfo).port, '127.0.0.1');
  await new Promise<void>((r) => writer.once('connect', () => r()));
  const calls = { write: 0, writev: [] as number[] };
  // Count what the Writable hands to the handle: one _writev per flushed batch.
  const w = writer as unknown as { _write: (...a: unknown[]) => void; _writev: (chunks: unknown[], cb: unknown) => void };
  const write = w._write.bind(writer);
  const writev = w._writev.bind(writer);
  w._write = (...a: unknown[]) => {
    calls.write++;
    write(...a);
  };
  w._writev = (c: unknown[], cb: unknown) => {
    calls.writev.push(c.length);
    writev(c, cb);
  };
  return {
    writer,
    received: () => Buffer.concat(chunks),
    calls,
    close: async () => {
      writer.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const nextTurn = (): Promise<void> => new Promise((r) => setImmediate(r));

async function receivedAll(p: Pair, bytes: number): Promise<Buffer> {
  const deadline = Date.now() + 5000;
  while (p.received().length < bytes) {
    assert.ok(Date.now() < deadline, `received ${p.received().length} of ${bytes} bytes`);
    await new Promise((r) => setTimeout(r, 5)); // polling interval for the peer's reads
  }
  return p.received();
}

test('frames written in one turn leave in one writev, in order, counted as buffered until then', async () => {
  const p = await pair();
  try {
    const frames = ['one|', 'two|', 'three|'].map((s) => Buffer.from(s));
    for (const f of frames) {
      holdWrites(p.writer);
      p.writer.write(f);
    }
    assert.equal(heldSocketCount(), 1, 'the socket is held once, however many frames');
    assert.equal(p.writer.writableLength, 14, 'held bytes count in writableLength (the 4009 limit reads it)');
    assert.deepEqual(p.calls, { write: 0, writev: [] }, 'nothing reaches the handle before the turn ends');
    await nextTurn();
    assert.equal(heldSocketCount(), 0);
    assert.deepEqual(p.calls, { write: 0, writev: [3] }, 'one writev of three frames');
    assert.equal((await receivedAll(p, 14)).toString(), 'one|two|three|');
  } finally {
    await p.close();
  }
});

test('without holdWrites each frame is its own write (the baseline the test above differs from)', async () => {
  const p = await pair();
  try {
    for (const s of ['a', 'b', 'c']) p.writer.write(Buffer.from(s));
    await nextTurn();
    assert.equal(p.calls.write + p.calls.writev.length > 1, true, 'more than one call to the handle');
    assert.equal((await receivedAll(p, 3)).toString(), 'abc');
  } finally {
    await p.close();
  }
});

test('a burst past EARLY_FLUSH_BYTES goes to the kernel within the turn; order is kept', async () => {
  const p = await pair();
  try {
    const frame = Buffer.alloc(16 * 1024, 0x61);
    const n = Math.ceil(EARLY_FLUSH_BYTES / frame.length) + 2;
    for (let i = 0; i < n; i++) {
      holdWrites(p.writer);
      p.writer.write(i === n - 1 ? Buffer.from('END') : frame);
    }
    assert.ok(p.calls.writev.length >= 1, 'handed over before the turn ended');
    assert.ok(p.writer.writableLength < EARLY_FLUSH_BYTES + frame.length, `held ${p.writer.writableLength} bytes`);
    await nextTurn();
    const all = await receivedAll(p, (n - 1) * frame.length + 3);
    assert.equal(all.subarray(-3).toString(), 'END');
    assert.equal(all.length, (n - 1) * frame.length + 3);
  } finally {
    await p.close();
  }
});

test('a socket ended or destroyed while held is flushed harmlessly', async () => {
  const p = await pair();
  try {
    holdWrites(p.writer);
    p.writer.write(Buffer.from('last'));
    p.writer.end();
    assert.equal((await receivedAll(p, 4)).toString(), 'last', 'end() flushes what was held');
    const q = await pair();
    holdWrites(q.writer);
    q.writer.write(Buffer.from('dropped'));
    q.writer.destroy();
    await nextTurn();
    assert.equal(heldSocketCount(), 0);
    await q.close();
  } finally {
    await p.close();
  }
});

/** One frame per socket per turn, alternating, until writes go straight out. */
async function quietUntilDirect(p: Pair, q: Pair): Promise<void> {
  for (let i = 0; i < 2 * QUIET_TURNS + 2 && !writingDirectly(); i++) {
    const w = i % 2 === 0 ? p.writer : q.writer;
    holdWrites(w);
    w.write(Buffer.from('.'));
    await nextTurn();
  }
  assert.equal(writingDirectly(), true, 'direct after quiet turns');
  await nextTurn(); // any probe turn begun meanwhile is over
}

test('after QUIET_TURNS turns with one frame per socket, writes go straight out; a socket written twice in a row starts a probe, a third time in the turn is held', async () => {
  const p = await pair();
  const q = await pair();
  try {
    await quietUntilDirect(p, q);
    const sent = p.writer.bytesWritten + p.writer.writableLength;
    const before = p.calls.write;
    holdWrites(p.writer);
    p.writer.write(Buffer.from('A'));
    assert.equal(p.calls.write, before + 1, 'written at once, not at the end of the turn');
    assert.equal(heldSocketCount(), 0);
    // The same socket again: maybe a burst. Written at once, noted by a probe turn.
    holdWrites(p.writer);
    p.writer.write(Buffer.from('B'));
    assert.equal(probing(), true);
    assert.equal(writingDirectly(), true);
    assert.equal(p.calls.write, before + 2, 'B written at once');
    // A third frame in the same turn: a burst. It and what follows this turn are held, in order.
    for (const s of ['C', 'D']) {
      holdWrites(p.writer);
      p.writer.write(Buffer.from(s));
    }
    assert.equal(writingDirectly(), false);
    assert.equal(heldSocketCount(), 1);
    assert.equal(p.writer.writableLength, 2, 'held frames still count in writableLength');
    await nextTurn();
    assert.equal(probing(), false, 'the probe ended with the turn');
    assert.deepEqual(p.calls.writev.at(-1), 2, 'C and D in one writev');
    const got = (await receivedAll(p, sent + 4)).toString();
    assert.ok(got.endsWith('ABCD'), got);
  } finally {
    await p.close();
    await q.close();
  }
});

test('unicast (each socket one frame per turn) is never held, across many probe turns, the same socket in consecutive turns included', async () => {
  const p = await pair();
  const q = await pair();
  try {
    await quietUntilDirect(p, q);
    const writes = p.calls.write + q.calls.write;
    const turns = 3 * DIRECT_PROBE_WRITES;
    let probes = 0;
    for (let t = 0; t < turns; t++) {
      // Both sockets once per turn; every fourth turn p alone twice over two turns (a repeat across turns).
      const order = t % 4 === 3 ? [p.writer] : t % 2 === 0 ? [p.writer, q.writer] : [q.writer, p.writer];
      for (const w of order) {
        holdWrites(w);
        w.write(Buffer.from('u'));
        assert.equal(heldSocketCount(), 0, `turn ${t}: nothing held`);
        assert.equal(writingDirectly(), true, `turn ${t}: still direct`);
        if (probing()) probes++;
      }
      await nextTurn();
    }
    assert.ok(probes > 0, 'probe turns ran');
    const expected = turns * 2 - Math.floor(turns / 4);
    assert.equal(p.calls.write + q.calls.write - writes, expected, 'each frame its own write, at once');
    assert.equal(p.calls.writev.length + q.calls.writev.length, 0, 'no writev: nothing was held');
  } finally {
    await p.close();
    await q.close();
  }
});

test('a broadcast burst (several sockets, each written twice in one turn, interleaved) switches to holding within one probe, and holding stays while turns repeat a socket', async () => {
  const p = await pair();
  const q = await pair();
  const r = await pair();
  try {
    await quietUntilDirect(p, q);
    const all = [p, q, r];
    // Publishes in one loop iteration: every member once per publish, never the same socket twice in a row.
    let n = 0;
    for (; n < DIRECT_PROBE_WRITES + 2 * all.length && writingDirectly(); n++) {
      const w = all[n % all.length]!.writer;
      holdWrites(w);
      w.write(Buffer.from('b'));
    }
    assert.equal(writingDirectly(), false, `holding after ${n} writes in one turn`);
    assert.ok(n <= DIRECT_PROBE_WRITES + all.length + 1, `switched at the first repeat of the probe turn (${n})`);
    await nextTurn();
    const writevs = p.calls.writev.length;
    for (let t = 0; t < QUIET_TURNS + 2; t++) {
      for (let k = 0; k < 3; k++) {
        for (const x of all) {
          holdWrites(x.writer);
          x.writer.write(Buffer.from('m'));
        }
      }
      await nextTurn();
    }
    assert.equal(writingDirectly(), false, 'holding kept while turns repeat a socket');
    assert.equal(p.calls.writev.length - writevs, QUIET_TURNS + 2, 'one writev per turn');
    assert.deepEqual(p.calls.writev.at(-1), 3, 'three frames per writev');
  } finally {
    await p.close();
    await q.close();
    await r.close();
  }
});

test('a probe watches QUIET_TURNS turns without holding: a burst in a later turn of it switches to holding; then the probe ends', async () => {
  const p = await pair();
  const q = await pair();
  try {
    await quietUntilDirect(p, q);
    // Direct writes up to the probe, one frame per socket per turn.
    let i = 0;
    while (!probing()) {
      const w = i++ % 2 === 0 ? p.writer : q.writer;
      holdWrites(w);
      w.write(Buffer.from('.'));
      if (i % 2 === 0) await nextTurn();
      assert.ok(i <= DIRECT_PROBE_WRITES + 1, 'a probe began within DIRECT_PROBE_WRITES writes');
    }
    await nextTurn();
    // Later turns of the probe: one frame per socket is still written at once...
    for (let t = 0; t < 3; t++) {
      for (const w of [p.writer, q.writer]) {
        holdWrites(w);
        w.write(Buffer.from('.'));
      }
      assert.equal(heldSocketCount(), 0, 'nothing held in a probe turn');
      assert.equal(probing(), true, `turn ${t + 2} of the probe`);
      await nextTurn();
    }
    // ...and a socket written twice in one of them is a burst.
    for (const w of [p.writer, q.writer, p.writer]) {
      holdWrites(w);
      w.write(Buffer.from('!'));
    }
    assert.equal(writingDirectly(), false, 'holding after a burst in a later probe turn');
    assert.equal(heldSocketCount(), 1);
    await nextTurn();
    // Back to direct; a probe with no burst ends after QUIET_TURNS turns, holding nothing.
    await quietUntilDirect(p, q);
    for (let k = 0; k < DIRECT_PROBE_WRITES + 4 * QUIET_TURNS; k++) {
      const w = k % 2 === 0 ? p.writer : q.writer;
      holdWrites(w);
      w.write(Buffer.from('.'));
      assert.equal(heldSocketCount(), 0);
      if (k % 2 === 1) await nextTurn();
    }
    await nextTurn();
    assert.equal(writingDirectly(), true);
    assert.equal(probing(), false, 'the probe ended after QUIET_TURNS turns');
  } finally {
    await p.close();
    await q.close();
  }
});
