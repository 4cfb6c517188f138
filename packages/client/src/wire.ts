/**
 * The wire: how frames travel on one socket. Everything above it (requests,
 * acks, dedupe, rooms, heartbeat) sees the v1 frame objects of the text
 * protocol, whichever protocol the socket speaks:
 *
 * - `json` (v1): one JSON object per text frame;
 * - `binary` (v2, `herald.v2.bin`): see binaryWire.ts, in the `@herald/client/binary` entry only.
 */
import { HeraldError } from './errors.js';
import { OPEN, type WebSocketLike } from './socket.js';

/** A frame as the SDK sees it: a v1 object with a `type`. */
export type WireFrame = { type: string } & Record<string, unknown>;

export interface WireHandlers {
  /** A decoded frame, in arrival order. */
  onFrame(frame: WireFrame): void;
  /**
   * A frame that could not be read. `fatal`: the connection must go — the
   * binary protocol has no way to resynchronise, so the client closes with
   * 4000. Not fatal: the JSON protocol reports and carries on.
   */
  onError(error: HeraldError, fatal: boolean): void;
}

/** One socket's encoder/decoder. */
export interface Wire {
  /** Feeds one WebSocket message (its `data`). Frames reach `onFrame` in arrival order. */
  receive(data: unknown): void;
  /** Encodes and writes one frame; false when the socket is not open or the frame cannot be encoded. */
  send(frame: WireFrame): boolean;
}

/** How to open a socket for a protocol, and the wire for each socket. */
export interface WireKind {
  /** WebSocket subprotocols to offer; undefined: none (`new WebSocket(url)`). */
  readonly protocols: string[] | undefined;
  /** Extra query parameters of the upgrade URL. */
  readonly query: Record<string, string | undefined>;
  create(ws: WebSocketLike, handlers: WireHandlers): Wire;
}

/** The JSON text protocol v1. */
export const jsonWire: WireKind = {
  protocols: undefined,
  query: {},
  create: (ws, handlers) => ({
    send(frame) {
      if (ws.readyState !== OPEN) return false;
      try {
        ws.send(JSON.stringify(frame));
        return true;
      } catch {
        return false;
      }
    },
    receive(data) {
      if (typeof data !== 'string') {
        handlers.onError(new HeraldError('bad_frame', 'binary frame on a text-protocol connection'), false);
        return;
      }
      if (data === 'pong') return;
      let frame: unknown;
      try {
        frame = JSON.parse(data);
      } catch {
        handlers.onError(new HeraldError('bad_frame', `unparsable frame: ${data.slice(0, 100)}`), false);
        return;
      }
      if (typeof frame !== 'object' || frame === null || typeof (frame as { type?: unknown }).type !== 'string') {
        handlers.onError(new HeraldError('bad_frame', `frame without a type: ${data.slice(0, 100)}`), false);
        return;
      }
      handlers.onFrame(frame as WireFrame);
    },
  }),
};
