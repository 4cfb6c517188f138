/**
 * Protocol v1 (JSON text) vs v2 (`herald.v2.bin`, with and without deflate):
 * bytes on the wire and CPU per message, on realistic order JSON of 1–4 KB.
 *
 *   npx tsc -b packages/protocol packages/bench && node packages/bench/dist/codecBench.js [--ms 1400]
 *
 * Each row does what the server and a client do per message:
 * - encode (server, once per message and encoding, shared by all recipients):
 *   v1 builds the message text and its WebSocket frame; v2 builds the payload
 *   text, the v2 frame (CRC32, compression above the 1024-byte threshold) and
 *   its WebSocket frame — as packages/server/src/protocol/v2Frames.ts does,
 *   with Node's native zlib.crc32; a second column uses the package's
 *   pure-TypeScript CRC32 instead.
 * - decode (client, per message): v1 JSON.parse of the text; v2 decodeFrame
 *   (header, CRC32, inflate, JSON.parse) and toV1 with the package's
 *   pure-TypeScript CRC32 (what the browser SDK runs).
 * - wire: the WebSocket frame's bytes (what every recipient's socket carries).
 * CPU is process.cpuUsage() (user + system) over timed loops divided by the
 * messages done, the best of 7 rounds; a warm-up pass runs first.
 */
import { createRequire } from 'node:module';
import * as os from 'node:os';
import { constants as bufferConstants } from 'node:buffer';
import * as zlib from 'node:zlib';
import { orderJson, rng } from './orders.js';
import { BinaryFrameType, type CodecName, type Compressor, type Crc32Function, decodeFrame, encodeFrame, toV1 } from '@herald/protocol';

interface FrameOptions {
  fin: boolean;
  rsv1: boolean;
  opcode: number;
  mask: boolean;
  readOnly: boolean;
}
const Sender = createRequire(import.meta.url)('ws').Sender as { frame(data: Buffer, options: FrameOptions): Buffer[] };
const wsFrame = (data: Buffer, opcode: 1 | 2): Buffer => Buffer.concat(Sender.frame(data, { fin: true, rsv1: false, opcode, mask: false, readOnly: false }));

// ---------------------------------------------------------------- codecs (as the server's nodeCompressors.ts)

type ZstdSync = (input: Uint8Array, options?: { maxOutputLength?: number }) => Buffer;
const zstd = zlib as unknown as { zstdCompressSync?: ZstdSync; zstdDecompressSync?: ZstdSync };

function compressor(name: CodecName): Compressor {
  const cap = (max: number): number => Math.min(Math.max(1, max), bufferConstants.MAX_LENGTH);
  if (name === 'deflate') {
    return {
      name,
      compress: (input) => zlib.deflateRawSync(input, { level: 6 }),
      decompress: (input, max) => zlib.inflateRawSync(input, { maxOutputLength: cap(max) }),
    };
  }
  const { zstdCompressSync: c, zstdDecompressSync: d } = zstd;
  if (!c || !d) throw new Error('no zstd in this runtime');
  return { name, compress: (input) => c(input), decompress: (input, max) => d(input, { maxOutputLength: cap(max) }) };
}

// ---------------------------------------------------------------- realistic orders (orders.ts)

// ---------------------------------------------------------------- the encodings

interface Msg {
  id: string;
  ts: number;
  data: string;
}

/** v1: the server's messageFrame() text, then the WebSocket text frame. */
function encodeV1Wire(m: Msg): Buffer {
  const text = '{"type":"message","id":' + JSON.stringify(m.id) + ',"event":"order.created","data":' + m.data + ',"ts":' + m.ts + '}';
  return wsFrame(Buffer.from(text, 'utf8'), 1);
}

const nativeFn = (zlib as unknown as { crc32?: (data: Uint8Array) => number }).crc32;
const nativeCrc32: Crc32Function | undefined = typeof nativeFn === 'function' ? (data) => nativeFn(data) : undefined;

/** v2: payload text (no type), v2 frame, WebSocket binary frame. */
function encodeV2Wire(m: Msg, c: Compressor | null, crc32: Crc32Function | undefined): Buffer {
  const payload = '{"id":' + JSON.stringify(m.id) + ',"event":"order.created","data":' + m.data + ',"ts":' + m.ts + '}';
  const options = { compressor: c, threshold: 1024, ...(crc32 ? { crc32 } : {}) };
  return wsFrame(Buffer.from(encodeFrame(BinaryFrameType.Message, Buffer.from(payload, 'utf8'), options)), 2);
}

/** The WebSocket payload of an unmasked server frame. */
function unwrap(frame: Buffer): Buffer {
  const len = frame[1]! & 0x7f;
  return frame.subarray(len === 126 ? 4 : len === 127 ? 10 : 2);
}

// ---------------------------------------------------------------- measuring

/**
 * CPU µs per call of `fn` over `items`: the best of `rounds` timed loops of
 * `ms / rounds` each (the minimum filters out other processes on the machine).
 */
function cpuPerOp(items: number, fn: (i: number) => unknown, ms: number, rounds = 7): number {
  let sink = 0;
  for (let i = 0; i < Math.min(items * 4, 2000); i++) sink += fn(i % items) ? 1 : 0; // warm-up
  let best = Infinity;
  for (let r = 0; r < rounds; r++) {
    const start = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    const deadline = t0 + BigInt(Math.ceil((ms / rounds) * 1_000_000));
    let ops = 0;
    while (process.hrtime.bigint() < deadline) {
      for (let i = 0; i < 50; i++) sink += fn((ops + i) % items) ? 1 : 0;
      ops += 50;
    }
    const used = process.cpuUsage(start);
    best = Math.min(best, (used.user + used.system) / ops);
  }
  if (sink < 0) console.log(sink);
  return best;
}

interface Row {
  size: string;
  variant: string;
  json: number;
  wire: number;
  encodeUs: number;
  /** Encode with the package's pure-TypeScript CRC32 (v2 only). */
  encodeTsCrcUs: number | undefined;
  decodeUs: number;
}

function main(): void {
  const msIdx = process.argv.indexOf('--ms');
  const ms = msIdx > 0 ? Number(process.argv[msIdx + 1]) : 1400;
  const codecs: (CodecName | null)[] = [null, 'deflate', ...(zstd.zstdCompressSync ? (['zstd'] as const) : [])];
  const rows: Row[] = [];
  for (const target of [1024, 2048, 4096]) {
    const r = rng(target);
    const msgs: Msg[] = Array.from({ length: 256 }, (_, i) => ({ id: `m-${target}-${i}-${Math.floor(r() * 1e9).toString(36)}`, ts: 1763700000000 + i, data: orderJson(r, i, target) }));
    const avg = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
    const json = avg(msgs.map((m) => Buffer.byteLength(m.data)));
    const size = `${(target / 1024).toFixed(0)} KB`;

    const v1Frames = msgs.map(encodeV1Wire);
    rows.push({
      size,
      variant: 'v1 JSON text',
      json,
      wire: avg(v1Frames.map((f) => f.length)),
      encodeUs: cpuPerOp(msgs.length, (i) => encodeV1Wire(msgs[i]!), ms),
      encodeTsCrcUs: undefined,
      decodeUs: cpuPerOp(msgs.length, (i) => JSON.parse(unwrap(v1Frames[i]!).toString('utf8')) as unknown, ms),
    });
    for (const name of codecs) {
      const c = name ? compressor(name) : null;
      const frames = msgs.map((m) => encodeV2Wire(m, c, nativeCrc32));
      // Check the frames before timing them: they must decode to the v1 message.
      const check = toV1(decodeFrame(unwrap(frames[0]!), { compressor: c, sender: 'server' })) as unknown as { data: unknown };
      if (JSON.stringify(check.data) !== msgs[0]!.data) throw new Error('v2 round trip failed');
      rows.push({
        size,
        variant: `v2 binary${name ? ' + ' + name : ''}`,
        json,
        wire: avg(frames.map((f) => f.length)),
        encodeUs: cpuPerOp(msgs.length, (i) => encodeV2Wire(msgs[i]!, c, nativeCrc32), ms),
        encodeTsCrcUs: cpuPerOp(msgs.length, (i) => encodeV2Wire(msgs[i]!, c, undefined), ms),
        decodeUs: cpuPerOp(msgs.length, (i) => toV1(decodeFrame(unwrap(frames[i]!), { compressor: c, sender: 'server' })), ms),
      });
    }
  }

  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  console.log(`codecBench — ${os.cpus().length} cores (${cpu.trim()}), Node ${process.version}, ${os.platform()} ${os.arch()}; best of 7 rounds in ${ms} ms per cell, 256 distinct orders per size`);
  console.log('');
  const crcNote = nativeCrc32 ? 'native zlib.crc32' : 'no native crc32 here: pure-TS';
  const head = ['order JSON', 'encoding', 'wire bytes/msg', 'vs v1', `encode µs/msg (server, ${crcNote})`, 'encode µs/msg, pure-TS CRC', 'decode µs/msg (client, pure-TS CRC)'];
  const table = rows.map((row) => {
    const v1 = rows.find((x) => x.size === row.size && x.variant.startsWith('v1'))!;
    return [
      `${row.size} (${Math.round(row.json)} B)`,
      row.variant,
      Math.round(row.wire).toLocaleString('en-US'),
      row === v1 ? '—' : `${(((row.wire - v1.wire) / v1.wire) * 100).toFixed(1)}%`,
      row.encodeUs.toFixed(2),
      row.encodeTsCrcUs === undefined ? '—' : row.encodeTsCrcUs.toFixed(2),
      row.decodeUs.toFixed(2),
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...table.map((t) => t[i]!.length)));
  const line = (cells: string[]): string => '| ' + cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ') + ' |';
  console.log(line(head));
  console.log('|' + widths.map((w, i) => (i < 2 ? ':' + '-'.repeat(w + 1) : '-'.repeat(w + 1) + ':')).join('|') + '|');
  for (const t of table) console.log(line(t));
}

main();
