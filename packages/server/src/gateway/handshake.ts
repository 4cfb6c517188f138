/**
 * Reads the query of `GET /ws` (DESIGN.md §1): token, device, platform,
 * last_seq. Bad values are answered after the upgrade with close 4000 and a
 * reason naming the parameter (a browser sees close codes, not HTTP statuses).
 */
import { DEVICE_ID_PATTERN, PLATFORMS, type Platform } from '@herald/protocol';

export interface HandshakeParams {
  token: string | undefined;
  /** Undefined when absent: the token's `did`, else "default", names the device. */
  device: string | undefined;
  platform: Platform;
  lastSeq: number | undefined;
}

export class HandshakeError extends Error {}

export function parseHandshake(query: URLSearchParams): HandshakeParams {
  const device = query.get('device') ?? undefined;
  if (device !== undefined && !DEVICE_ID_PATTERN.test(device)) throw new HandshakeError('bad "device": 1-64 of [A-Za-z0-9._:-]');
  const platform = (query.get('platform') ?? 'other') as Platform;
  if (!PLATFORMS.includes(platform)) throw new HandshakeError(`bad "platform": one of ${PLATFORMS.join('|')}`);
  const rawSeq = query.get('last_seq');
  let lastSeq: number | undefined;
  if (rawSeq !== null && rawSeq !== '') {
    if (!/^\d{1,16}$/.test(rawSeq) || !Number.isSafeInteger(Number(rawSeq))) throw new HandshakeError('bad "last_seq": a non-negative integer');
    lastSeq = Number(rawSeq);
  }
  return { token: query.get('token') || undefined, device, platform, lastSeq };
}
