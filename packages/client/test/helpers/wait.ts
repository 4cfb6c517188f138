/** Bounded waits on client events: tests synchronise on events, never on sleeps. */
import type { HeraldClient, HeraldEvents } from '../../src/index.js';

export function waitForEvent<K extends keyof HeraldEvents>(
  client: HeraldClient,
  event: K,
  predicate: (payload: HeraldEvents[K]) => boolean = () => true,
  timeoutMs = 3000,
): Promise<HeraldEvents[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for the ${String(event)} event`));
    }, timeoutMs);
    const off = client.on(event, (payload) => {
      if (!predicate(payload)) return;
      clearTimeout(timer);
      off();
      resolve(payload);
    });
  });
}

/** Records every payload of `event` from now on. */
export function record<K extends keyof HeraldEvents>(client: HeraldClient, event: K): HeraldEvents[K][] {
  const out: HeraldEvents[K][] = [];
  client.on(event, (payload) => out.push(payload));
  return out;
}

/** Resolves once `items` has at least `n` entries (checked on each `event`). */
export function waitForCount<K extends keyof HeraldEvents>(
  client: HeraldClient,
  event: K,
  items: unknown[],
  n: number,
  timeoutMs = 3000,
): Promise<void> {
  if (items.length >= n) return Promise.resolve();
  return waitForEvent(client, event, () => items.length >= n, timeoutMs).then(() => undefined);
}

/** An unsigned JWT-shaped token carrying the given claims (the fake server does not verify). */
export function fakeJwt(claims: Record<string, unknown>): string {
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.sig`;
}
