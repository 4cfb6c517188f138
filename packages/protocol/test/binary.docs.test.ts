/** docs/protocol-v2.md is checked against the code: frame-type table, header table, examples. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as zlib from 'node:zlib';
import { FRAME_TYPES, HeaderOffset, type Compressor, type FrameSender, decodeFrame, encodeV1, toV1 } from '../src/binary/index.js';

const md = readFileSync(new URL('../../../docs/protocol-v2.md', import.meta.url), 'utf8');
const deflate: Compressor = {
  name: 'deflate',
  compress: (u8) => zlib.deflateRawSync(u8),
  decompress: (u8, max) => zlib.inflateRawSync(u8, { maxOutputLength: max }),
};

test('docs: the frame-type table lists exactly the codec’s types', () => {
  const rows = [...md.matchAll(/^\| `0x([0-9a-f]{2})` \| (\w+) \| `(\w+)`[^|]*\| (server|client) \| (JSON|empty|bytes|frames) \|/gm)].map((m) => ({
    id: parseInt(m[1]!, 16),
    name: m[2],
    v1: m[3],
    sender: m[4],
    payload: m[5] === 'JSON' ? 'json' : m[5] === 'bytes' || m[5] === 'frames' ? m[5] : 'empty',
  }));
  assert.deepEqual(
    rows,
    FRAME_TYPES.map((t) => ({ id: t.id, name: t.name, v1: t.v1, sender: t.sender, payload: t.payload })),
  );
});

test('docs: the header table matches the offsets', () => {
  const rows = [...md.matchAll(/^\| (\d+) +\| (\d+|length) +\| (magic|version|frame type|compression|CRC32|length|seq|payload) +\|/gm)].map((m) => [m[3], Number(m[1])]);
  assert.deepEqual(rows, [
    ['magic', HeaderOffset.Magic],
    ['version', HeaderOffset.Version],
    ['frame type', HeaderOffset.Type],
    ['compression', HeaderOffset.Compression],
    ['CRC32', HeaderOffset.Crc],
    ['length', HeaderOffset.Length],
    ['seq', HeaderOffset.Seq],
    ['payload', 16],
  ]);
});

test('docs: every example decodes to its v1 object; uncompressed ones re-encode byte for byte', () => {
  const examples = [...md.matchAll(/<!-- example sender=(server|client) -->\n```json\n(.*)\n```\n```text\n([\s\S]*?)```/g)];
  assert.equal(examples.length, 3);
  for (const [, sender, json, hexDump] of examples) {
    const bytes = Uint8Array.from(Buffer.from(hexDump!.replace(/\s+/g, ''), 'hex'));
    const v1 = JSON.parse(json!) as Parameters<typeof encodeV1>[0];
    assert.deepEqual(toV1(decodeFrame(bytes, { compressor: deflate, sender: sender as FrameSender })), v1);
    if (bytes[3] === 0) assert.deepEqual(encodeV1(v1, sender as FrameSender), bytes);
  }
});
