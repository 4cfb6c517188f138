/**
 * What the users' inboxes really hold, read straight from Redis (the suite's
 * admin connection, not through the fault proxy): every stored message with
 * its seq, device target and the entry id in its data. The layout is the
 * Redis engine's (docs/scaling.md, key layout; engine/redis/inboxFormat.ts):
 * a Stream per user, entry id `<seq>-0`, fields d (data), v (device),
 * z (compression of d).
 */
import * as zlib from 'node:zlib';
import type { Redis } from 'ioredis';
import type { StoredEntry } from './entries.js';

/** Redis key-name escaping of tenant/user ids (as the engine does). */
const esc = (s: string): string => s.replace(/[%:{}]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());

export function inboxKey(prefix: string, tenant: string, user: string): string {
  return `${prefix}u{${esc(tenant)}:${esc(user)}}:inbox`;
}

function decode(d: string, z: string | undefined): string {
  if (z === undefined) return d;
  const packed = Buffer.from(d, 'base64');
  if (z === 'deflate') return zlib.inflateRawSync(packed).toString('utf8');
  const zstd = (zlib as unknown as { zstdDecompressSync?: (b: Buffer) => Buffer }).zstdDecompressSync;
  if (z === 'zstd' && zstd) return zstd(packed).toString('utf8');
  throw new Error(`inbox entry compressed with ${z}: cannot read it here`);
}

/** Every message stored for these users. */
export async function readInboxes(redis: Redis, prefix: string, users: readonly { tenant: string; user: string }[]): Promise<StoredEntry[]> {
  const out: StoredEntry[] = [];
  for (const { tenant, user } of users) {
    const rows = (await redis.xrange(inboxKey(prefix, tenant, user), '-', '+')) as [string, string[]][];
    for (const [id, f] of rows) {
      const fields = new Map<string, string>();
      for (let i = 0; i + 1 < f.length; i += 2) fields.set(f[i]!, f[i + 1]!);
      let entry: string | undefined;
      try {
        const data = JSON.parse(decode(fields.get('d') ?? 'null', fields.get('z'))) as { e?: unknown } | null;
        if (data && typeof data.e === 'string') entry = data.e;
      } catch {
        // not one of ours: reported as foreign by the check
      }
      const s: StoredEntry = { tenant, user, seq: parseInt(id, 10), entry };
      const dev = fields.get('v');
      if (dev !== undefined) s.device = dev;
      out.push(s);
    }
  }
  return out;
}
