/**
 * Open TCP connections of this process to some ports: how a test shows that a closed node left
 * no Redis connection behind (a client that keeps reconnecting would keep the process alive).
 * Reads Node's active handles — undocumented, but the only view of every live socket.
 */
import type { Socket } from 'node:net';

export function openSocketsTo(ports: readonly number[]): number {
  const handles = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles();
  let n = 0;
  for (const h of handles) {
    const s = h as Partial<Socket>;
    if (typeof s.remotePort === 'number' && !s.destroyed && ports.includes(s.remotePort)) n++;
  }
  return n;
}
