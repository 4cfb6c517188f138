/**
 * The one place Herald reaches into `ws` beyond its public API. Three things:
 * - `Sender.frame`: builds a WebSocket frame from a payload, so one frame
 *   buffer can be written to every recipient of a fan-out (DESIGN.md §4);
 *   ws exports it at run time but its type definitions do not declare it.
 * - `_socket`: the net.Socket under a WebSocket, to write those pre-built
 *   frames and read how much is buffered.
 * - `_receiver._fragments`: the list ws's Receiver collects a message's
 *   frames in, handed a reused one (`reuseFragmentList`).
 * A test (test/unit/wsInternals.test.ts) pins them to the installed ws
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

/** The part of ws's Receiver that `reuseFragmentList` touches. */
interface ReceiverInternals {
  _fragments: Buffer[];
}

/**
 * Makes `list`, emptied, the array in which ws's Receiver collects the socket's next message.
 * Call it from the socket's 'message' event, once the message is handled.
 *
 * Why: after each message ws replaces that array with a fresh `[]`. On a socket that sends a frame
 * now and then (an ack per reliable message, a client publish) the fresh array has been promoted
 * to V8's old generation by the time the next frame arrives. Its push then gives it a new, young
 * backing store holding the frame's buffer, and when ws drops the array, that dead old object still
 * points at them: the scavenger treats old-to-young pointers as roots, so the store, the buffer and
 * its ArrayBuffer survive into the old generation too. That was ≈ 370 bytes promoted per inbound
 * frame, ≈ 3 ms added to each young-generation collection at 5,000 acks/s (issue 20, measured with
 * `scripts/alloc-per-delivery.mjs --promoted`; docs/benchmarks.md, "Reliable: what survives a
 * scavenge"). A list that stays the socket's own and is emptied here holds nothing between
 * messages, so a frame's objects die young.
 *
 * A no-op when ws has no receiver for the socket, or its list is not empty (not between messages).
 */
export function reuseFragmentList(socket: WebSocket, list: Buffer[]): void {
  const receiver = (socket as unknown as { _receiver: ReceiverInternals | null })._receiver;
  if (receiver === null || receiver._fragments.length !== 0) return;
  list.length = 0;
  receiver._fragments = list;
}
