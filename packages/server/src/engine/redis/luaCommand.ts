/**
 * Herald's Lua scripts as methods of its Redis clients (`heraldAppend`, …).
 *
 * Standalone and Sentinel: without ioredis' defineCommand (issue 20). ioredis copies every
 * defineCommand script onto each auto-pipeline batch it creates — one per event-loop turn with
 * commands: with Herald's 20 scripts ~5.6 KB allocated per batch, measured, on a path that sends
 * ~6 commands per connect — and wraps each call in a Script command. Here a call is a plain
 * EVALSHA, auto-pipelined like any command, and ioredis' loading rule is kept as it is: the first
 * call of a script on a connection sends EVAL with the source, so a restarted Redis (a new
 * connection) never answers NOSCRIPT to a call that a later command of the same user could then
 * overtake; NOSCRIPT on a live connection (SCRIPT FLUSH) is answered by sending EVAL, as ioredis
 * does (the script did not run: nothing is applied twice). ioredis picks EVAL or EVALSHA when it
 * writes a command; here it is picked at the call, which is the same socket only because Herald's
 * command clients have no offline queue and never resend (redis/connect.ts: a call made while not
 * ready fails at once, one cut by a disconnect fails rather than going out on the next socket).
 *
 * Redis Cluster keeps defineCommand: its node connections are ioredis' own.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { RedisClient } from '../../redis/connect.js';

type Arg = string | number;

/** `numberOfKeys` -1: the call passes the number of keys as its first argument (a variable count). */
export function defineLua(client: RedisClient, name: string, numberOfKeys: number, lua: string): void {
  if ((client as { isCluster?: boolean }).isCluster) {
    client.defineCommand(name, numberOfKeys < 0 ? { lua } : { numberOfKeys, lua });
    return;
  }
  const r = client as Redis;
  const sha = createHash('sha1').update(lua).digest('hex');
  /** The connection (socket) this script was last sent on as EVAL: Redis has it cached there. */
  let loadedOn: unknown;
  // Variable key count: the call's first argument is it (`call(n, ...keys, ...argv)`).
  const fixed = numberOfKeys >= 0;
  const call = (...args: Arg[]): Promise<unknown> => {
    const stream = r.stream;
    if (loadedOn !== stream) {
      loadedOn = stream;
      return fixed ? r.eval(lua, numberOfKeys, ...args) : r.eval(lua, ...(args as [number, ...Arg[]]));
    }
    return (fixed ? r.evalsha(sha, numberOfKeys, ...args) : r.evalsha(sha, ...(args as [number, ...Arg[]]))).catch((err: unknown) => {
      if (!(err instanceof Error) || !err.message.includes('NOSCRIPT')) throw err;
      return fixed ? r.eval(lua, numberOfKeys, ...args) : r.eval(lua, ...(args as [number, ...Arg[]]));
    });
  };
  Object.defineProperty(client, name, { value: call, configurable: true, writable: true, enumerable: false });
}
