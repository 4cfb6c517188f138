/**
 * Message ids: random (version 4) UUIDs, as `crypto.randomUUID()` makes them, from the same
 * CSPRNG (randomFillSync over a pool, as Node's own UUID cache) — but as one flat string.
 * Node builds its UUID by 20 concatenations of two-character pieces: ~20 cons strings, about
 * 580 bytes allocated per publish (scripts/alloc-per-delivery.mjs, issue 20), then flattened
 * again by the first regex that reads it. Here the 36 characters are written into a scratch
 * buffer and read out once as a latin1 string (one 56-byte string).
 */
import { randomFillSync } from 'node:crypto';

const UUIDS_PER_FILL = 128;
const pool = Buffer.allocUnsafeSlow(16 * UUIDS_PER_FILL);
let next = UUIDS_PER_FILL;
const text = Buffer.allocUnsafeSlow(36);
const view = new DataView(text.buffer, text.byteOffset, 36);
/** Every byte's two hex digits as one little-endian 16-bit value: the high digit's char code first. */
const HEX = new Uint16Array(256);
for (let b = 0; b < 256; b++) HEX[b] = '0123456789abcdef'.charCodeAt(b >> 4) | ('0123456789abcdef'.charCodeAt(b & 15) << 8);
text[8] = text[13] = text[18] = text[23] = 0x2d; // '-'

/**
 * The last id made. Plain ASCII by construction (hex digits and dashes): protocol/serverFrames.ts
 * quotes it without testing it (a publish quotes its id twice, in the frame and in the reply).
 */
export let lastMessageId = '';

/** `crypto.randomUUID()`: a random version 4, variant 1 UUID, lower-case. */
export function randomMessageId(): string {
  if (next === UUIDS_PER_FILL) {
    randomFillSync(pool);
    next = 0;
  }
  const o = 16 * next++;
  const p = pool;
  const v = view;
  const h = HEX;
  // Unrolled, each byte's two digits one 16-bit store at its place in
  // `xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx`: the loop over a place table with the version and
  // variant branches in it cost ~1,000 instructions per id (issue 20).
  v.setUint16(0, h[p[o]!]!, true);
  v.setUint16(2, h[p[o + 1]!]!, true);
  v.setUint16(4, h[p[o + 2]!]!, true);
  v.setUint16(6, h[p[o + 3]!]!, true);
  v.setUint16(9, h[p[o + 4]!]!, true);
  v.setUint16(11, h[p[o + 5]!]!, true);
  v.setUint16(14, h[(p[o + 6]! & 0x0f) | 0x40]!, true); // version 4
  v.setUint16(16, h[p[o + 7]!]!, true);
  v.setUint16(19, h[(p[o + 8]! & 0x3f) | 0x80]!, true); // variant 10xx
  v.setUint16(21, h[p[o + 9]!]!, true);
  v.setUint16(24, h[p[o + 10]!]!, true);
  v.setUint16(26, h[p[o + 11]!]!, true);
  v.setUint16(28, h[p[o + 12]!]!, true);
  v.setUint16(30, h[p[o + 13]!]!, true);
  v.setUint16(32, h[p[o + 14]!]!, true);
  v.setUint16(34, h[p[o + 15]!]!, true);
  return (lastMessageId = text.toString('latin1', 0, 36));
}
