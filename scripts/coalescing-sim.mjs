#!/usr/bin/env node
/**
 * Write coalescing under a fixed pattern of turns (protocol/writeCoalescing.ts, issue 20): how
 * many writes reach the sockets' handles (one `_write` or `_writev` call = one system call) for
 * S loopback sockets when each turn carries k "publishes" that write every socket once. A count,
 * not a time: the same on a loaded machine. Compare two builds by pointing at their dist.
 *
 *   node scripts/coalescing-sim.mjs [--dist packages/server/dist] --sockets 100 --turns 640 --burst 4 --every 32
 *
 * Every `--every`-th turn has `--burst` publishes, the others one (`--every 1`: every turn a
 * burst; `--burst 1`: unicast-like, one frame per socket per turn). Prints write calls per frame
 * and the turns that ended in holding mode.
 */
import { createServer, connect } from 'node:net';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const { values: o } = parseArgs({
  options: {
    dist: { type: 'string', default: 'packages/server/dist' },
    sockets: { type: 'string', default: '100' },
    turns: { type: 'string', default: '640' },
    burst: { type: 'string', default: '4' },
    every: { type: 'string', default: '32' },
  },
});
const S = Number(o.sockets);
const T = Number(o.turns);
const K = Number(o.burst);
const P = Number(o.every);
const wc = await import(pathToFileURL(resolve(o.dist, 'protocol/writeCoalescing.js')).href);

const server = createServer((s) => s.on('data', () => {}));
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const { port } = server.address();
let calls = 0;
const sockets = [];
for (let i = 0; i < S; i++) {
  const w = connect(port, '127.0.0.1');
  await new Promise((r) => w.once('connect', r));
  const write = w._write.bind(w);
  const writev = w._writev.bind(w);
  w._write = (...a) => void (calls++, write(...a));
  w._writev = (...a) => void (calls++, writev(...a));
  sockets.push(w);
}
const frame = Buffer.alloc(100, 0x61);
const turn = () => new Promise((r) => setImmediate(r));
const publish = () => {
  for (const s of sockets) {
    wc.holdWrites(s);
    s.write(frame);
  }
};
for (let t = 0; t < 200; t++) {
  publish();
  await turn();
}
calls = 0;
let frames = 0;
let holding = 0;
for (let t = 0; t < T; t++) {
  const k = t % P === 0 ? K : 1;
  for (let p = 0; p < k; p++) publish();
  frames += k * S;
  if (!wc.writingDirectly()) holding++;
  await turn();
}
console.log(`${o.dist}: ${S} sockets, ${T} turns, ${K} publishes every ${P} turns: ${frames} frames, ${calls} write calls (${(calls / frames).toFixed(3)} per frame), ${holding} turns ending in holding`);
for (const s of sockets) s.destroy();
server.close();
