/**
 * What the session lifecycle (activation, rooms, heartbeat, detach) needs of
 * a client session, whatever its transport: the WebSocket `Connection` and
 * the Server-Sent Events `SseSession` both implement it, so one activation,
 * one set of room rules and one detach serve both.
 */
import type { DeliverySession, SessionState } from '../delivery/session.js';
import type { WheelEntry } from '../runtime/timingWheel.js';

export interface GatewaySession extends DeliverySession {
  readonly id: string;
  state: SessionState;
  user: string;
  tenant: string;
  device: string;
  /** JWT `rooms` allow-list; undefined allows any room. */
  allowRooms: string[] | undefined;
  /** Token expiry, ms since the epoch. */
  expiresAt: number | undefined;
  /** Last inbound activity, ms since the epoch. */
  lastSeen: number;
  readonly connectedAt: number;
  /** `last_seq` the client asked to resume after, when it gave one. */
  readonly requestedSeq: number | undefined;
  /** The session's one wheel timer (auth deadline, heartbeats, token expiry). */
  readonly timer: WheelEntry;
  /** Close code and reason chosen by the server, once it closed the session. */
  readonly closeCode: number | undefined;
  readonly closeReason: string | undefined;
  /** Writes a v1 text frame (welcome, replies, errors, room events: not the fan-out path). */
  sendText(text: string): void;
}
