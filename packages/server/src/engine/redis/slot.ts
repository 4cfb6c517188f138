/**
 * Redis Cluster slot of a key or shard channel (CRC16/XMODEM of the hash tag,
 * mod 16384), as Redis computes it. Needed to batch SSUBSCRIBE calls: one
 * call may only name channels of a single slot.
 */

const TABLE = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 8;
    for (let j = 0; j < 8; j++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
    t[i] = c;
  }
  return t;
})();

function crc16(buf: Buffer): number {
  let crc = 0;
  for (const b of buf) crc = ((crc << 8) & 0xffff) ^ TABLE[((crc >> 8) ^ b) & 0xff]!;
  return crc;
}

export function clusterSlot(key: string): number {
  // Only the part between the first '{' and the next '}' counts, when non-empty.
  const open = key.indexOf('{');
  if (open >= 0) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) key = key.slice(open + 1, close);
  }
  return crc16(Buffer.from(key, 'utf8')) % 16384;
}
