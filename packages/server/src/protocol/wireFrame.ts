/**
 * Builds a WebSocket frame once so the same bytes go to every recipient of a
 * fan-out (DESIGN.md §4). Server frames are unmasked, so one buffer list is
 * valid for every socket.
 */
import { createRequire } from 'node:module';

interface FrameOptions {
  fin: boolean;
  rsv1: boolean;
  opcode: number;
  mask: boolean;
  readOnly: boolean;
}
// ws exports Sender at run time, but its type definitions do not declare it.
const Sender = createRequire(import.meta.url)('ws').Sender as { frame(data: Buffer, options: FrameOptions): Buffer[] };

/** Header and payload merged into one buffer: one write per recipient. */
export type WireFrame = Buffer;

const opts = { fin: true, rsv1: false, opcode: 1, mask: false, readOnly: false } as const;

/** A text frame for `text`. */
export function textWireFrame(text: string): WireFrame {
  return merge(Sender.frame(Buffer.from(text, 'utf8'), { ...opts, opcode: 1 }));
}

/** A binary frame for `bytes`. */
export function binaryWireFrame(bytes: Uint8Array): WireFrame {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return merge(Sender.frame(buf, { ...opts, opcode: 2 }));
}

function merge(parts: Buffer[]): Buffer {
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}
