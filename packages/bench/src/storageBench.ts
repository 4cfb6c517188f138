/**
 * Compressed storage (issue 21): what compressing inbox payloads costs and
 * saves per message, on realistic order JSON of 0.5–16 KB.
 *
 *   npx tsc -b packages/bench && node packages/bench/dist/storageBench.js [--ms 1400]
 *
 * Each row does what the server's engine/payloadCodec.ts does per stored
 * message — encode once on append (compress, base64 for the Redis stream /
 * memory entry), decode on every read (replay, resume, admin inspection) —
 * with the same settings (deflate raw level 6; zstd where node:zlib has it).
 * CPU is process.cpuUsage() (user + system) over timed loops divided by the
 * messages done, the best of 7 rounds, after a warm-up.
 */
import * as os from 'node:os';
import * as zlib from 'node:zlib';
import { orderJson, rng } from './orders.js';

type Sync = (input: Buffer) => Buffer;
const z = zlib as unknown as { zstdCompressSync?: Sync; zstdDecompressSync?: Sync };

interface Codec {
  name: string;
  encode(text: string): string;
  decode(stored: string): string;
}

const CODECS: Codec[] = [
  { name: 'deflate', encode: (t) => zlib.deflateRawSync(Buffer.from(t), { level: 6 }).toString('base64'), decode: (s) => zlib.inflateRawSync(Buffer.from(s, 'base64')).toString('utf8') },
  ...(z.zstdCompressSync && z.zstdDecompressSync
    ? [{ name: 'zstd', encode: (t: string) => z.zstdCompressSync!(Buffer.from(t)).toString('base64'), decode: (s: string) => z.zstdDecompressSync!(Buffer.from(s, 'base64')).toString('utf8') }]
    : []),
];

function cpuPerOp(fn: (i: number) => unknown, items: number, ms: number, rounds = 7): number {
  let sink = 0;
  for (let i = 0; i < Math.min(items * 4, 2000); i++) sink += fn(i % items) ? 1 : 0;
  let best = Infinity;
  for (let r = 0; r < rounds; r++) {
    const start = process.cpuUsage();
    const deadline = process.hrtime.bigint() + BigInt(Math.ceil((ms / rounds) * 1_000_000));
    let ops = 0;
    while (process.hrtime.bigint() < deadline) {
      for (let i = 0; i < 20; i++) sink += fn((ops + i) % items) ? 1 : 0;
      ops += 20;
    }
    const used = process.cpuUsage(start);
    best = Math.min(best, (used.user + used.system) / ops);
  }
  if (sink < 0) console.log(sink);
  return best;
}

const msIdx = process.argv.indexOf('--ms');
const ms = msIdx > 0 ? Number(process.argv[msIdx + 1]) : 1400;
console.log(`node ${process.version}, ${os.cpus()[0]?.model ?? 'cpu'}; zstd ${z.zstdCompressSync ? 'available' : 'not in this runtime'}`);
console.log('| payload | codec | stored bytes | saved | encode µs/msg | decode µs/msg |');
console.log('|---|---|---|---|---|---|');
for (const target of [512, 1024, 4096, 16384]) {
  const r = rng(target);
  const texts = Array.from({ length: 128 }, (_, i) => orderJson(r, i, target));
  const plain = texts.reduce((a, t) => a + Buffer.byteLength(t), 0) / texts.length;
  console.log(`| ${(target / 1024).toString()} KB | none | ${Math.round(plain)} | — | 0 | 0 |`);
  for (const c of CODECS) {
    const stored = texts.map((t) => c.encode(t));
    const size = stored.reduce((a, s) => a + s.length, 0) / stored.length;
    const enc = cpuPerOp((i) => c.encode(texts[i]!), texts.length, ms);
    const dec = cpuPerOp((i) => c.decode(stored[i]!), texts.length, ms);
    console.log(`| ${(target / 1024).toString()} KB | ${c.name} | ${Math.round(size)} | ${Math.round((1 - size / plain) * 100)} % | ${enc.toFixed(1)} | ${dec.toFixed(1)} |`);
  }
}
