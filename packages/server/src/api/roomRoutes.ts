/** GET /api/v1/rooms/:room/history and /presence: a room's history (newest `limit`, oldest first) and members with their state. */
import type { ServerResponse } from 'node:http';
import { DEFAULT_TENANT, ROOM_NAME_PATTERN } from '@herald/protocol';
import { ApiError } from '../errors.js';
import type { PresenceStore } from '../engine/types.js';
import { membersWithState } from '../rooms/awareness.js';
import type { RoomRecovery } from '../rooms/recovery.js';
import { ILL_FORMED, isWellFormedId } from '../protocol/identifiers.js';

export interface RoomRoutesDeps {
  recovery: RoomRecovery;
  maxLimit: number;
}

function roomParam(raw: string): string {
  let room: string;
  try {
    room = decodeURIComponent(raw);
  } catch {
    room = '';
  }
  if (!ROOM_NAME_PATTERN.test(room)) throw new ApiError('invalid_field', 'room: 1-128 of [A-Za-z0-9._:@/-]', 'room');
  return room;
}

function tenantParam(q: URLSearchParams): string {
  const tenant = q.get('tenant') || DEFAULT_TENANT;
  if (tenant.length > 128 || !isWellFormedId(tenant)) throw new ApiError('invalid_field', `tenant: ${ILL_FORMED}`, 'tenant');
  return tenant;
}

export async function roomHistory(d: RoomRoutesDeps, res: ServerResponse, rawRoom: string, q: URLSearchParams): Promise<void> {
  const room = roomParam(rawRoom);
  const tenant = tenantParam(q);
  const rawLimit = q.get('limit');
  let limit = d.maxLimit;
  if (rawLimit !== null) {
    limit = /^\d{1,6}$/.test(rawLimit) ? Number(rawLimit) : 0;
    if (limit < 1 || limit > d.maxLimit) throw new ApiError('invalid_field', `limit: must be an integer 1-${d.maxLimit}`, 'limit');
  }
  let frames: string[];
  try {
    frames = await d.recovery.history(tenant, room, limit);
  } catch (err) {
    throw new ApiError('engine_unavailable', `history unavailable: ${(err as Error).message}`);
  }
  // The stored frames are JSON already: spliced, not parsed and re-serialized.
  const body = '{"room":' + JSON.stringify(room) + ',"tenant":' + JSON.stringify(tenant) + ',"messages":[' + frames.join(',') + ']}';
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** Room members as before (room and tenant taken as given), each with its `state` when set. */
export async function roomPresenceWithState(presence: PresenceStore, room: string, q: URLSearchParams): Promise<{ room: string; tenant: string; count: number; members: unknown[] }> {
  const tenant = q.get('tenant') || DEFAULT_TENANT;
  const members = await presence.roomPresence(tenant, room);
  const listed = membersWithState(members);
  return { room, tenant, count: members.length, members: members.map((m, i) => ({ ...listed[i], node: m.node })) };
}
