/** The welcome written by hand (issue 20, connect path) is byte for byte what JSON.stringify writes, whatever the values and shape. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { welcomeFrame } from '../../src/protocol/serverFrames.js';

type Welcome = Parameters<typeof welcomeFrame>[0];
const reference = (w: Welcome): string => JSON.stringify({ type: 'welcome', ...w });

test('fuzz: a v1 welcome equals JSON.stringify of it, any strings and numbers', () => {
  fc.assert(
    fc.property(
      fc.string(),
      fc.string(),
      fc.string({ unit: 'grapheme' }),
      fc.string({ unit: 'binary' }),
      fc.string(),
      fc.oneof(fc.integer(), fc.double()),
      fc.oneof(fc.nat(), fc.double(), fc.constant(-0)),
      fc.boolean(),
      (conn, node, user, tenant, device, hb, seq, recovered) => {
        const w: Welcome = { conn, node, user, tenant, device, heartbeat_ms: hb, last_seq: seq, recovered };
        assert.equal(welcomeFrame(w), reference(w));
      },
    ),
    { numRuns: 500, seed: 0x57_e1 },
  );
});

test('other shapes go through JSON.stringify: v2 extras, another key order, lone surrogates, odd values', () => {
  const base: Welcome = { conn: 'n.1', node: 'n', user: 'u"\\', tenant: 't\u2028', device: 'd\ud800', heartbeat_ms: 25_000, last_seq: 7, recovered: false };
  const shapes: Welcome[] = [
    base,
    { ...base, compression: 'deflate', compression_threshold: 1024 },
    { last_seq: 1, conn: 'c', node: 'n', user: 'u', tenant: 't', device: 'd', heartbeat_ms: 1, recovered: true },
    { ...base, heartbeat_ms: Number.NaN },
    { ...base, last_seq: Number.POSITIVE_INFINITY },
    { ...base, recovered: undefined as unknown as boolean },
    { ...base, user: 5 as unknown as string },
  ];
  for (const w of shapes) assert.equal(welcomeFrame(w), reference(w), JSON.stringify(w));
  assert.equal(welcomeFrame({ conn: 'a.1', node: 'a', user: 'u', tenant: 'default', device: 'default', heartbeat_ms: 25_000, last_seq: 0, recovered: true }), '{"type":"welcome","conn":"a.1","node":"a","user":"u","tenant":"default","device":"default","heartbeat_ms":25000,"last_seq":0,"recovered":true}');
});
