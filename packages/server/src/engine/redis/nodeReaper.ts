/**
 * Reaps the connections of crashed nodes, once for the cluster.
 *
 * Every node incarnation (node id + boot id) that holds connections is listed
 * in `nodeboots`, and indexes its connections in its own `nodeConns` hash.
 * Each live node, on its heartbeat, checks the listed incarnations against the
 * liveness keys (`node:{id}` = boot id, short TTL): an incarnation whose key
 * is gone or names another boot is dead. One node claims it (SET NX with a
 * TTL), removes its connections from the users' connection sets — the removal
 * that empties a set marks the user's `last` connection, exactly as a clean
 * disconnect would — and reports them. A reaper that dies mid-way lets its
 * claim expire, and another node finishes: removals are idempotent, so no user
 * goes offline twice; a connection may be reported again (docs/events.md).
 *
 * Connections are removed a chunk at a time (REAP_CHUNK script calls sent together: one round trip
 * per chunk, not one per connection) and each chunk is reported as soon as it is removed, so the
 * first events do not wait for the last connection of a large node (issue 23). With webhooks on a
 * single Redis, the removal that empties a user's set writes the `offline` event in the same script.
 *
 * Bound: a crashed node is found within nodeTtlMs + heartbeatMs (20 s with the defaults); its
 * connections are then reported at about one chunk per round trip (docs/events.md has the figures).
 */
import type { Cluster, Redis } from 'ioredis';
import type { LostConnection, PresenceEventSink } from '../types.js';
import type { RedisKeys } from './keys.js';
import { eventArgs } from './presenceScripts.js';

interface WithScripts {
  heraldConnRemove(key: string, conn: string): Promise<number>;
  heraldConnRemoveEv(key: string, stream: string, conn: string, ...event: (string | number)[]): Promise<number>;
}

/** Connections removed per round trip (and reported together). */
export const REAP_CHUNK = 500;

/** What `nodeConns` holds per connection. */
export interface IndexedConn {
  tenant: string;
  user: string;
  device: string;
  platform: string;
  since: number;
}

/**
 * One pass: reaps every dead incarnation this node can claim; `report` is told each chunk of
 * connections once removed. Resolves the number of connections reaped.
 */
export async function reapDeadNodes(
  client: Redis | Cluster,
  keys: RedisKeys,
  me: { node: string; boot: string },
  claimTtlMs: number,
  report: (lost: LostConnection[]) => void,
  sink?: PresenceEventSink,
): Promise<number> {
  const members = await client.smembers(keys.nodeBoots());
  let reaped = 0;
  for (const m of members) {
    const i = m.indexOf(':');
    if (i < 0) continue;
    const boot = m.slice(0, i);
    const node = m.slice(i + 1);
    if (node === me.node && boot === me.boot) continue;
    if ((await client.get(keys.nodeAlive(node))) === boot) continue;
    const claimed = await client.set(keys.reapClaim(node, boot), me.node, 'PX', claimTtlMs, 'NX');
    if (claimed !== 'OK') continue;
    const index = keys.nodeConns(node, boot);
    const entries = Object.entries(await client.hgetall(index));
    for (let c = 0; c < entries.length; c += REAP_CHUNK) {
      const lost = await removeChunk(client, keys, node, entries.slice(c, c + REAP_CHUNK), sink);
      reaped += lost.length;
      if (lost.length > 0) report(lost);
    }
    await Promise.all([client.del(index), client.srem(keys.nodeBoots(), m)]);
  }
  return reaped;
}

/** Removes a chunk of a dead node's connections from their users' sets, the calls sent together. */
async function removeChunk(client: Redis | Cluster, keys: RedisKeys, node: string, entries: [string, string][], sink: PresenceEventSink | undefined): Promise<LostConnection[]> {
  const s = client as unknown as WithScripts;
  const recs: LostConnection[] = [];
  for (const [conn, raw] of entries) {
    try {
      recs.push({ ...(JSON.parse(raw) as IndexedConn), node, conn, last: false });
    } catch {
      continue;
    }
  }
  // Only the connection sets: presence records of dead incarnations are already invisible to
  // readers (boot check) and swept by them (presence.ts).
  const answers = await Promise.all(
    recs.map((r) => {
      const key = keys.userConns(r.tenant, r.user);
      const ev = sink?.offline(r, 'node_lost');
      return ev ? s.heraldConnRemoveEv(key, ev.key, r.conn, ...eventArgs(ev)) : s.heraldConnRemove(key, r.conn);
    }),
  );
  recs.forEach((r, i) => (r.last = answers[i] === 1));
  return recs;
}
