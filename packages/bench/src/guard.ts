/**
 * Loopback-only guard. The bench opens tens of thousands of connections and
 * publishes at thousands of requests per second: pointed at someone else's
 * host that is a denial-of-service tool, so it refuses anything that is not
 * this machine's loopback interface.
 */
import { isIPv4, isIPv6 } from 'node:net';

export class NonLoopbackTargetError extends Error {
  readonly code = 'ERR_BENCH_NON_LOOPBACK';
  constructor(readonly host: string) {
    super(`refusing non-loopback target host "${host}": herald bench only runs against 127.0.0.0/8, ::1 or localhost`);
    this.name = 'NonLoopbackTargetError';
  }
}

/** True for localhost, 127.0.0.0/8 and ::1 (with or without brackets). */
export function isLoopbackHost(host: string): boolean {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h === 'localhost' || h.endsWith('.localhost')) return h === 'localhost';
  if (isIPv4(h)) return h.split('.')[0] === '127';
  if (isIPv6(h)) {
    if (h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
    // IPv4-mapped loopback, e.g. ::ffff:127.0.0.1
    const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h);
    return m !== null && m[1] !== undefined && isIPv4(m[1]) && m[1].startsWith('127.');
  }
  return false;
}

/** Parses `url` and throws NonLoopbackTargetError unless its host is loopback. */
export function assertLoopbackUrl(url: string): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`invalid target URL "${url}"`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'ws:') {
    throw new Error(`unsupported target URL scheme "${u.protocol}" (use http:// or ws://)`);
  }
  if (!isLoopbackHost(u.hostname)) throw new NonLoopbackTargetError(u.hostname);
  return u;
}

/** Source addresses must be loopback as well (they are bound with `localAddress`). */
export function assertLoopbackAddress(addr: string): void {
  if (!isLoopbackHost(addr) || addr === 'localhost') throw new NonLoopbackTargetError(addr);
}
