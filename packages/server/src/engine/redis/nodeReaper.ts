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
 * Bound: a crashed node is reaped within nodeTtlMs + heartbeatMs (20 s with
 * the defaults).
 */
import type { Cluster, Redis } from 'ioredis';
import type { LostConnection } from '../types.js';
import type { RedisKeys } from './keys.js';

interface WithScripts {
  heraldConnRemove(key: string, conn: string): Promise<number>;
}

/** What `nodeConns` holds per connection. */
export interface IndexedConn {
  tenant: string;
  user: string;
  device: string;
  platform: string;
  since: number;
}

export async function reapDeadNodes(client: Redis | Cluster, keys: RedisKeys, me: { node: string; boot: string }, claimTtlMs: number): Promise<LostConnection[]> {
  const members = await client.smembers(keys.nodeBoots());
  const out: LostConnection[] = [];
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
    const entries = await client.hgetall(index);
    const s = client as unknown as WithScripts;
    for (const [conn, raw] of Object.entries(entries)) {
      let rec: IndexedConn;
      try {
        rec = JSON.parse(raw) as IndexedConn;
      } catch {
        continue;
      }
      // Only the connection set: presence records of dead incarnations are already invisible to
      // readers (boot check) and swept by them (presence.ts).
      const last = (await s.heraldConnRemove(keys.userConns(rec.tenant, rec.user), conn)) === 1;
      out.push({ ...rec, node, conn, last });
    }
    await Promise.all([client.del(index), client.srem(keys.nodeBoots(), m)]);
  }
  return out;
}
