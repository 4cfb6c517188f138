/**
 * Issue 13 item 9: where a never-seen device starts (docs/delivery.md "In order, without gaps"):
 * a user's first device at the oldest retained message; a new device of a user with devices per
 * newDeviceStart (unacked by default); messages targeted at a device always reach it.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { HeraldConfigInput } from '../../src/config/schema.js';
import type { HeraldNode } from '../../src/node.js';
import { connect, nodeFactory, publish, type TestClient } from '../helpers/harness.js';
import { useSharedRedis } from '../helpers/redisServer.js';

const node = nodeFactory();
const redis = useSharedRedis();
const prefix = redis.prefix;

const dataOf = (c: TestClient): unknown[] => c.messages().map((f) => f.data);

async function send(n: HeraldNode, user: string, data: unknown, device?: string): Promise<number> {
  const r = await publish(n, { to: device === undefined ? { user } : { user, device }, data });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return (r.body.seq as Record<string, number>)[user]!;
}

/** Connects as a new device and waits for exactly the expected messages, in order. */
async function device(n: HeraldNode, user: string, dev: string, expected: unknown[]): Promise<TestClient> {
  const c = await connect(n, user, { device: dev });
  await c.waitForCount((f) => f.type === 'message', expected.length, 5000, `${expected.length} messages on ${dev}`);
  assert.deepEqual(dataOf(c), expected);
  return c;
}

/** Waits until the device's acks of everything up to `seq` are stored. */
async function acked(n: HeraldNode, user: string, dev: string, seq: number): Promise<void> {
  let cur: number | undefined;
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    cur = await n.engine.getCursor('default', user, dev);
    if (cur === seq) return;
    await new Promise((r) => setTimeout(r, 10)); // poll interval, bounded by the deadline
  }
  assert.fail(`cursor of ${dev} is ${cur}, expected ${seq}`);
}

for (const engine of ['memory', 'redis'] as const) {
  describe(`start point of a never-seen device (${engine})`, () => {
    const start = (extra: HeraldConfigInput = {}) =>
      node(engine === 'redis' ? { engine: 'redis', redisUrl: redis.url, redisKeyPrefix: prefix, ...extra } : extra);
    const u = (name: string) => `${name}-${engine}-${prefix}`;

    test("a user's first device ever gets what was published before it ever connected", async () => {
      const n = await start();
      const user = u('never-seen');
      await send(n, user, 'm1');
      await send(n, user, 'm2');
      const phone = await device(n, user, 'phone', ['m1', 'm2']);
      assert.equal(phone.frames[0]!.last_seq, 0);
      assert.equal(phone.frames[0]!.recovered, true);
      phone.close();
    });

    test('a second new device gets the messages no device has acked (default unacked)', async () => {
      const n = await start();
      const user = u('second');
      await send(n, user, 'a1');
      const phone = await device(n, user, 'phone', ['a1']);
      await acked(n, user, 'phone', 1);
      phone.close();
      await phone.waitClosed();
      await send(n, user, 'a2');
      await send(n, user, 'a3');
      const laptop = await device(n, user, 'laptop', ['a2', 'a3']);
      assert.equal(laptop.frames[0]!.last_seq, 1);
      laptop.close();
    });

    test('newDeviceStart: oldest replays everything retained, tip only what comes next', async () => {
      for (const [mode, expected] of [
        ['oldest', ['o1', 'o2']],
        ['tip', []],
      ] as const) {
        const n = await start({ newDeviceStart: mode });
        const user = u(`mode-${mode}`);
        await send(n, user, 'o1');
        const phone = await device(n, user, 'phone', ['o1']);
        await acked(n, user, 'phone', 1);
        phone.close();
        await phone.waitClosed();
        await send(n, user, 'o2');
        const laptop = await connect(n, user, { device: 'laptop' });
        assert.equal(laptop.frames[0]!.last_seq, mode === 'tip' ? 2 : 0, mode);
        await send(n, user, 'live');
        await laptop.waitFor((f) => f.type === 'message' && f.data === 'live');
        assert.deepEqual(dataOf(laptop), [...expected, 'live'], mode);
        laptop.close();
      }
    });

    test('messages targeted at a device always reach it, even when the rule starts later (tip)', async () => {
      const n = await start({ newDeviceStart: 'tip' });
      const user = u('targeted');
      await send(n, user, 't1');
      const phone = await device(n, user, 'phone', ['t1']);
      await acked(n, user, 'phone', 1);
      await send(n, user, 'for-tablet', 'tablet');
      await send(n, user, 't3');
      await phone.waitFor((f) => f.type === 'message' && f.data === 't3');
      assert.deepEqual(dataOf(phone), ['t1', 't3']); // the tablet's message is not the phone's
      await acked(n, user, 'phone', 3);
      const tablet = await device(n, user, 'tablet', ['for-tablet', 't3']);
      assert.equal(tablet.frames[0]!.last_seq, 1);
      // And a device that never connected gets its targeted message as its user's first device too.
      const other = u('targeted-first');
      await send(n, other, 'only-for-watch', 'watch');
      const watch = await device(n, other, 'watch', ['only-for-watch']);
      phone.close();
      tablet.close();
      watch.close();
    });
  });
}
