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
/** The two hex digits' char codes of every byte, high digit first. */
const HEX = new Uint8Array(512);
for (let b = 0; b < 256; b++) {
  HEX[2 * b] = '0123456789abcdef'.charCodeAt(b >> 4);
  HEX[2 * b + 1] = '0123456789abcdef'.charCodeAt(b & 15);
}
/** Where each byte's two digits go in `xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx`. */
const AT = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];
text[8] = text[13] = text[18] = text[23] = 0x2d; // '-'

/** `crypto.randomUUID()`: a random version 4, variant 1 UUID, lower-case. */
export function randomMessageId(): string {
  if (next === UUIDS_PER_FILL) {
    randomFillSync(pool);
    next = 0;
  }
  const o = 16 * next++;
  for (let i = 0; i < 16; i++) {
    let b = pool[o + i]!;
    if (i === 6) b = (b & 0x0f) | 0x40; // version 4
    else if (i === 8) b = (b & 0x3f) | 0x80; // variant 10xx
    const at = AT[i]!;
    text[at] = HEX[2 * b]!;
    text[at + 1] = HEX[2 * b + 1]!;
  }
  return text.toString('latin1', 0, 36);
}
