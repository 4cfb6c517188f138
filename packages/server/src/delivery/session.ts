/**
 * What the delivery layer needs of a session: who it is, where it is, and a
 * way to write a frame to it. The gateway's WebSocket `Connection` implements
 * it; delivery never sees a socket, so other transports can implement it too.
 */
import type { Platform } from '@herald/protocol';
import type { ReliableStream, StreamSink } from './reliableStream.js';

export type SessionState = 'authenticating' | 'active' | 'closing' | 'closed';

export interface DeliverySession extends StreamSink {
  readonly platform: Platform;
  readonly state: SessionState;
  /** When the transport connected, ms since the epoch (a replacement closes only older sessions). */
  readonly connectedAt: number;
  /** Rooms joined, created on first join. */
  rooms: Set<string> | undefined;
  /** The device's reliable stream, once the session is active. */
  reliable: ReliableStream | undefined;
  /** Closes and leaves every index at once, so that a replacement can take the device's place now. */
  evict(code: number, reason: string): void;
}
