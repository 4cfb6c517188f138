/**
 * Builds a WebSocket frame once so the same bytes go to every recipient of a
 * fan-out (DESIGN.md §4). Server frames are unmasked, so one buffer list is
 * valid for every socket.
 */
import { wsFrame } from './wsInternals.js';

/** Header and payload merged into one buffer: one write per recipient. */
export type WireFrame = Buffer;

const opts = { fin: true, rsv1: false, opcode: 1, mask: false, readOnly: false } as const;

/** A text frame for `text`. */
export function textWireFrame(text: string): WireFrame {
  return merge(wsFrame(Buffer.from(text, 'utf8'), { ...opts, opcode: 1 }));
}

/** A binary frame for `bytes`. */
export function binaryWireFrame(bytes: Uint8Array): WireFrame {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return merge(wsFrame(buf, { ...opts, opcode: 2 }));
}

function merge(parts: Buffer[]): Buffer {
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}
