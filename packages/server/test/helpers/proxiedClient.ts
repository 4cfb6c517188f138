/** Finding one Redis client's connection inside a fault proxy, for tests that hold or cut just that one. */
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import type { FaultProxy, ProxyConn } from '../../../stress/src/faultProxy.js';

/** The proxied connection of the Redis client named `name` (`herald:<node>:<role>`), matched by its port as Redis sees it. */
export async function proxiedConnOf(admin: Redis, proxy: FaultProxy, name: string): Promise<ProxyConn> {
  const list = (await admin.client('LIST')) as string;
  const line = list.split('\n').find((l) => l.includes(` name=${name} `));
  assert.ok(line, `client ${name} connected`);
  const port = Number(/ addr=[^ ]*:(\d+) /.exec(' ' + line)![1]);
  const c = proxy.openConnections().find((p) => p.upstream.localPort === port);
  assert.ok(c, `proxied connection of ${name}`);
  return c;
}
