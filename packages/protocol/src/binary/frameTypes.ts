/**
 * Frame type ids of the binary protocol v2 (header byte 2), one per v1 message.
 *
 * v1 reuses `join`/`leave` for two different messages (a server→client
 * presence event and a client→server request); v2 gives each its own id so a
 * frame is unambiguous without looking at its payload. Bit 6 (0x40) marks the
 * direction: 0x01–0x3F are sent by the server, 0x41–0x7F by the client.
 */

export const BinaryFrameType = {
  // server → client
  Welcome: 0x01,
  Message: 0x02,
  Reply: 0x03,
  Error: 0x04,
  PresenceJoin: 0x05,
  PresenceLeave: 0x06,
  Pong: 0x07,
  /** A message whose data is bytes (payload kind `bytes`). */
  MessageBytes: 0x08,
  /** A member's awareness state changed. */
  StateEvent: 0x09,
  /** Several room messages in one frame (room batching window; payload kind `frames`). */
  Batch: 0x0a,
  // client → server
  Auth: 0x41,
  Ack: 0x42,
  Sync: 0x43,
  JoinRequest: 0x44,
  LeaveRequest: 0x45,
  Publish: 0x46,
  PresenceRequest: 0x47,
  Ping: 0x48,
  /** A room publish whose data is bytes (payload kind `bytes`). */
  PublishBytes: 0x4c,
  HistoryRequest: 0x4d,
  State: 0x4e,
  // 0x50 rather than the next free id: ids 0x49-0x4F are left to the room frames being added alongside.
  Rpc: 0x50,
} as const;

export type FrameTypeName = keyof typeof BinaryFrameType;
export type FrameTypeId = (typeof BinaryFrameType)[FrameTypeName];

/** Who sends a frame type: 'server' (server → client) or 'client' (client → server). */
export type FrameSender = 'server' | 'client';

/**
 * How the payload is carried:
 * - `json`: UTF-8 JSON object, the v1 object without `type` (and without `seq`
 *   where the header carries it);
 * - `empty`: no payload at all (length 0); everything the frame says is in the header;
 * - `bytes`: u32 (big-endian) length of a UTF-8 JSON object (the v1 fields
 *   besides the data), that object, then the data bytes as they are. The v1
 *   shape of such a frame carries the bytes as `data_b64`.
 * - `frames`: complete, uncompressed Message/MessageBytes frames one after the
 *   other (each with its own header, seq and CRC); the v1 shape is
 *   `{"type":"batch","messages":[…message frames…]}`.
 */
export type PayloadKind = 'json' | 'empty' | 'bytes' | 'frames';

export interface FrameTypeInfo {
  id: FrameTypeId;
  name: FrameTypeName;
  /** The v1 `type` string this frame maps to. */
  v1: string;
  sender: FrameSender;
  payload: PayloadKind;
  /**
   * True when the v1 object's `seq` lives in the header instead of the JSON
   * (message: optional, 0 = absent; ack: required).
   */
  headerSeq: boolean;
}

const LIST: readonly FrameTypeInfo[] = [
  { id: BinaryFrameType.Welcome, name: 'Welcome', v1: 'welcome', sender: 'server', payload: 'json', headerSeq: false },
  { id: BinaryFrameType.Message, name: 'Message', v1: 'message', sender: 'server', payload: 'json', headerSeq: true },
  { id: BinaryFrameType.Reply, name: 'Reply', v1: 'reply', sender: 'server', payload: 'json', headerSeq: false },
  { id: BinaryFrameType.Error, name: 'Error', v1: 'error', sender: 'server', payload: 'json', headerSeq: false },
  { id: BinaryFrameType.PresenceJoin, name: 'PresenceJoin', v1: 'join', sender: 'server', payload: 'json', headerSeq: false },
  { id: BinaryFrameType.PresenceLeave, name: 'PresenceLeave', v1: 'leave', sender: 'server', payload: 'json', headerSeq: false },
  { id: BinaryFrameType.Pong, name: 'Pong', v1: 'pong', sender: 'server', payload: 'empty', headerSeq: false },
  { id: BinaryFrameType.MessageBytes, name: 'MessageBytes', v1: 'message', sender: 'server', payload: 'bytes', headerSeq: true },
  { id: BinaryFrameType.StateEvent, name: 'StateEvent', v1: 'state', sender: 'server', payload: 'json', headerSeq: false },
  { id: BinaryFrameType.Batch, name: 'Batch', v1: 'batch', sender: 'server', payload: 'frames', headerSeq: false },
  { id: BinaryFrameType.Auth, name: 'Auth', v1: 'auth', sender: 'client', payload: 'json', headerSeq: false },
  { id: BinaryFrameType.Ack, name: 'Ack', v1: 'ack', sender: 'client', payload: 'empty', headerSeq: true },
  { id: BinaryFrameType.Sync, name: 'Sync', v1: 'sync', sender: 'client', payload: 'json', headerSeq: false },
  { id: BinaryFrameType.JoinRequest, name: 'JoinRequest', v1: 'join', sender: 'client', payload: 'json', headerSeq: false },
  { id: BinaryFrameType.LeaveRequest, name: 'LeaveRequest', v1: 'leave', sender: 'client', payload: 'json', headerSeq: false },
  { id: BinaryFrameType.Publish, name: 'Publish', v1: 'publish', sender: 'client', payload: 'json', headerSeq: false },
  { id: BinaryFrameType.PresenceRequest, name: 'PresenceRequest', v1: 'presence', sender: 'client', payload: 'json', headerSeq: false },
  { id: BinaryFrameType.Ping, name: 'Ping', v1: 'ping', sender: 'client', payload: 'empty', headerSeq: false },
  { id: BinaryFrameType.PublishBytes, name: 'PublishBytes', v1: 'publish', sender: 'client', payload: 'bytes', headerSeq: false },
  { id: BinaryFrameType.HistoryRequest, name: 'HistoryRequest', v1: 'history', sender: 'client', payload: 'json', headerSeq: false },
  { id: BinaryFrameType.State, name: 'State', v1: 'state', sender: 'client', payload: 'json', headerSeq: false },
  { id: BinaryFrameType.Rpc, name: 'Rpc', v1: 'rpc', sender: 'client', payload: 'json', headerSeq: false },
];

/** Every frame type, in id order. */
export const FRAME_TYPES: readonly FrameTypeInfo[] = LIST;

// Indexed by the header byte so the decoder's lookup is one array read.
const BY_ID: (FrameTypeInfo | undefined)[] = new Array<FrameTypeInfo | undefined>(256).fill(undefined);
for (const info of LIST) BY_ID[info.id] = info;

const BY_V1: Record<FrameSender, Map<string, FrameTypeInfo>> = { server: new Map(), client: new Map() };
// The `bytes` variants share their v1 type: the v1 → v2 direction picks them by `data_b64` (v1.ts).
for (const info of LIST) if (info.payload !== 'bytes') BY_V1[info.sender].set(info.v1, info);
const BYTES_V1: Record<FrameSender, Map<string, FrameTypeInfo>> = { server: new Map(), client: new Map() };
for (const info of LIST) if (info.payload === 'bytes') BYTES_V1[info.sender].set(info.v1, info);

/** The `bytes` payload variant of a v1 type (message, publish), or undefined. */
export function bytesFrameTypeForV1(v1Type: string, sender: FrameSender): FrameTypeInfo | undefined {
  return BYTES_V1[sender].get(v1Type);
}

/** Info for a header type byte, or undefined when the byte is not a frame type. */
export function frameTypeInfo(id: number): FrameTypeInfo | undefined {
  return Number.isInteger(id) && id >= 0 && id <= 0xff ? BY_ID[id] : undefined;
}

/** The v2 frame type for a v1 `type` string sent by `sender`, or undefined. */
export function frameTypeForV1(v1Type: string, sender: FrameSender): FrameTypeInfo | undefined {
  return BY_V1[sender].get(v1Type);
}
