/**
 * Builds a WebSocket frame once so the same bytes go to every recipient of a
 * fan-out (DESIGN.md §4). Server frames are unmasked, so one buffer is valid
 * for every socket.
 *
 * A text frame is written straight into one buffer (header, then the UTF-8
 * text): the same bytes as ws's `Sender.frame` (test/unit/wireFrame.test.ts
 * compares them), without the payload copy, the separate header buffer and
 * the concatenation that cost per frame (issue 20).
 */
// Buffer from its module: the global `Buffer` is an accessor (a getter call per use) in Node 20.
import { Buffer } from 'node:buffer';
import { wsFrame } from './wsInternals.js';

/** Header and payload merged into one buffer: one write per recipient. */
export type WireFrame = Buffer;

const opts = { fin: true, rsv1: false, opcode: 1, mask: false, readOnly: false } as const;

/** A text frame for `text`. */
export function textWireFrame(text: string): WireFrame {
  const length = Buffer.byteLength(text, 'utf8');
  // RFC 6455 §5.2, unmasked: FIN + opcode 1, then the payload length in 7 bits, or 126 + 16 bits, or 127 + 64 bits.
  const header = length < 126 ? 2 : length < 65_536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(header + length);
  frame[0] = 0x81;
  if (header === 2) frame[1] = length;
  else if (header === 4) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(Math.floor(length / 0x1_0000_0000), 2);
    frame.writeUInt32BE(length >>> 0, 6);
  }
  frame.write(text, header, length, 'utf8');
  return frame;
}

/** A binary frame for `bytes`. */
export function binaryWireFrame(bytes: Uint8Array): WireFrame {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return merge(wsFrame(buf, { ...opts, opcode: 2 }));
}

function merge(parts: Buffer[]): Buffer {
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}
