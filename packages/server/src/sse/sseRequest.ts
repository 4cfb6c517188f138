/**
 * Reads `GET /sse` (DESIGN.md §10): the WebSocket handshake's parameters
 * (token, device, platform, last_seq) plus `rooms=a,b` and the
 * `Last-Event-ID` header a browser's EventSource sends when it reconnects.
 * Bad values are 400 `invalid_field` naming the parameter: unlike a browser
 * WebSocket, an HTTP client sees the status.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { ROOM_NAME_PATTERN } from '@herald/protocol';
import { ApiError } from '../errors.js';
import { HandshakeError, parseHandshake, type HandshakeParams } from '../gateway/handshake.js';

export interface SseParams extends HandshakeParams {
  /** Rooms to join once the stream is active. */
  rooms: string[];
}

const SEQ = /^\d{1,16}$/;

export function parseSseRequest(query: URLSearchParams, headers: IncomingHttpHeaders, maxRooms: number): SseParams {
  let base: HandshakeParams;
  try {
    base = parseHandshake(query);
  } catch (err) {
    if (!(err instanceof HandshakeError)) throw err;
    const field = /"([a-z_]+)"/.exec(err.message)?.[1];
    throw new ApiError('invalid_field', err.message, field);
  }
  // The header wins over the query: it is what the stream saw last before it was cut.
  const lastEventId = headers['last-event-id'];
  if (typeof lastEventId === 'string' && lastEventId !== '') {
    if (!SEQ.test(lastEventId) || !Number.isSafeInteger(Number(lastEventId))) {
      throw new ApiError('invalid_field', 'bad "Last-Event-ID": the seq of a reliable message, a non-negative integer', 'Last-Event-ID');
    }
    base.lastSeq = Number(lastEventId);
  }
  const raw = query.get('rooms');
  const rooms = raw === null || raw === '' ? [] : [...new Set(raw.split(','))];
  for (const room of rooms) {
    if (!ROOM_NAME_PATTERN.test(room)) throw new ApiError('invalid_field', `bad room "${room.slice(0, 64)}" in "rooms": 1-128 of [A-Za-z0-9._:@/-]`, 'rooms');
  }
  if (rooms.length > maxRooms) throw new ApiError('invalid_field', `"rooms": at most ${maxRooms} rooms per connection`, 'rooms');
  return { ...base, rooms };
}
