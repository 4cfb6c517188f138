/**
 * What the delivery layer needs of a session: who it is, where it is, and a
 * way to write a frame to it. The gateway's WebSocket `Connection` implements
 * it; delivery never sees a socket, so other transports can implement it too.
 */
import type { Platform } from '@herald/protocol';
import type { SessionRef } from '../events/lifecycle.js';
import type { EncodedFrame } from '../protocol/encodedFrame.js';
import type { ReliableStream } from './reliableStream.js';

export type SessionState = 'authenticating' | 'active' | 'closing' | 'closed';

export interface DeliverySession extends SessionRef {
  readonly platform: Platform;
  readonly state: SessionState;
  /** Rooms joined, created on first join. */
  rooms: Set<string> | undefined;
  /** The device's reliable stream, once the session is active. */
  reliable: ReliableStream | undefined;
  /** Writes a frame in this session's encoding. False when the session cannot take it now. */
  send(frame: EncodedFrame): boolean;
  /** Closes with a close code and a reason (≤ 123 bytes are kept). */
  close(code: number, reason: string): void;
}
