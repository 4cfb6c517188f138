/**
 * The one place Herald reaches into `ws` beyond its public API. Two things:
 * - `Sender.frame`: builds a WebSocket frame from a payload, so one frame
 *   buffer can be written to every recipient of a fan-out (DESIGN.md §4);
 *   ws exports it at run time but its type definitions do not declare it.
 * - `_socket`: the net.Socket under a WebSocket, to write those pre-built
 *   frames and read how much is buffered.
 * A test (test/unit/wsInternals.test.ts) pins both to the installed ws
 * version, so an upgrade that moves them fails there first.
 */
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';

export interface FrameOptions {
  fin: boolean;
  rsv1: boolean;
  opcode: number;
  mask: boolean;
  readOnly: boolean;
}

const ws = createRequire(import.meta.url)('ws') as { Sender?: { frame?: (data: Buffer, options: FrameOptions) => Buffer[] } };

/** The ws major.minor these internals were checked against (the test reads the installed version). */
export const WS_INTERNALS_CHECKED = '8.';

/** ws's `Sender.frame`: the frame parts (header, payload) for `data`. */
export function wsFrame(data: Buffer, options: FrameOptions): Buffer[] {
  const frame = ws.Sender?.frame;
  if (typeof frame !== 'function') throw new Error('ws.Sender.frame is missing: this ws version is not supported');
  return frame(data, options);
}

/** The socket under a server-side WebSocket. */
export function socketOf(socket: WebSocket): Socket {
  return (socket as unknown as { _socket: Socket })._socket;
}
