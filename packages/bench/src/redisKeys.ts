/**
 * Deletes the Redis keys a bench run left behind (every key under its own
 * unique prefix), with a minimal RESP client over node:net: SCAN MATCH
 * <prefix>* then UNLINK, bounded in time. Loopback Redis only.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { isLoopbackHost, NonLoopbackTargetError } from './guard.js';

/** A unique key prefix for one bench run: no `{`/`}` (Cluster hash tags), ends with ':'. */
export function benchKeyPrefix(random: string): string {
  const safe = random.replace(/[^A-Za-z0-9]/g, '');
  if (safe.length === 0) throw new Error('empty prefix');
  return `herald-bench-${safe}:`;
}

/** The host and port of a loopback redis:// URL (throws for anything else). */
export function loopbackRedis(url: string): { host: string; port: number } {
  const u = new URL(url);
  if (u.protocol !== 'redis:') throw new Error(`only redis:// URLs are supported by the bench, got "${u.protocol}"`);
  if (!isLoopbackHost(u.hostname)) throw new NonLoopbackTargetError(u.hostname);
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port: u.port ? Number(u.port) : 6379 };
}

export function encodeCommand(args: string[]): string {
  return `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
}

export type Resp = string | number | null | Resp[] | Error;

/** Parses one RESP reply at `pos`; returns null when `buf` does not hold all of it yet. */
export function parseReply(buf: string, pos = 0): { value: Resp; end: number } | null {
  const eol = buf.indexOf('\r\n', pos);
  if (eol < 0) return null;
  const kind = buf[pos];
  const line = buf.slice(pos + 1, eol);
  switch (kind) {
    case '+':
      return { value: line, end: eol + 2 };
    case '-':
      return { value: new Error(line), end: eol + 2 };
    case ':':
      return { value: Number(line), end: eol + 2 };
    case '$': {
      const n = Number(line);
      if (n < 0) return { value: null, end: eol + 2 };
      // Keys are ASCII here (our own prefix), so string length equals byte length.
      if (buf.length < eol + 2 + n + 2) return null;
      return { value: buf.slice(eol + 2, eol + 2 + n), end: eol + 2 + n + 2 };
    }
    case '*': {
      const n = Number(line);
      if (n < 0) return { value: null, end: eol + 2 };
      const out: Resp[] = [];
      let p = eol + 2;
      for (let i = 0; i < n; i++) {
        const r = parseReply(buf, p);
        if (!r) return null;
        out.push(r.value);
        p = r.end;
      }
      return { value: out, end: p };
    }
    default:
      throw new Error(`unexpected RESP type "${kind}"`);
  }
}

class MiniRedis {
  private buf = '';
  private waiting: Array<{ resolve: (v: Resp) => void; reject: (e: Error) => void }> = [];
  private constructor(private readonly sock: Socket) {
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => {
      this.buf += d;
      for (;;) {
        const r = parseReply(this.buf);
        if (!r) break;
        this.buf = this.buf.slice(r.end);
        const w = this.waiting.shift();
        if (!w) continue;
        if (r.value instanceof Error) w.reject(r.value);
        else w.resolve(r.value);
      }
    });
    sock.on('error', (e) => {
      for (const w of this.waiting.splice(0)) w.reject(e);
    });
  }

  static open(host: string, port: number, timeoutMs: number): Promise<MiniRedis> {
    return new Promise((resolve, reject) => {
      const sock = connect({ host, port });
      const t = setTimeout(() => sock.destroy(new Error('redis connect timeout')), timeoutMs);
      sock.once('connect', () => {
        clearTimeout(t);
        resolve(new MiniRedis(sock));
      });
      sock.once('error', (e) => {
        clearTimeout(t);
        reject(e);
      });
    });
  }

  call(...args: string[]): Promise<Resp> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.sock.write(encodeCommand(args));
    });
  }

  close(): void {
    this.sock.end();
    this.sock.destroy();
  }
}

/** One command on a loopback Redis (e.g. INFO commandstats for the bench's accounting); its reply. */
export async function redisCommand(redisUrl: string, ...args: string[]): Promise<Resp> {
  const { host, port } = loopbackRedis(redisUrl);
  const r = await MiniRedis.open(host, port, 5000);
  try {
    return await r.call(...args);
  } finally {
    r.close();
  }
}

/** Deletes every key starting with `prefix`; returns how many were deleted. */
export async function deleteKeysWithPrefix(redisUrl: string, prefix: string, timeoutMs = 30_000): Promise<number> {
  if (!prefix.startsWith('herald-bench-')) throw new Error(`refusing to delete keys outside a bench prefix ("${prefix}")`);
  const { host, port } = loopbackRedis(redisUrl);
  const r = await MiniRedis.open(host, port, 5000);
  const deadline = Date.now() + timeoutMs;
  let deleted = 0;
  try {
    let cursor = '0';
    do {
      if (Date.now() > deadline) throw new Error('deleting bench keys took too long');
      const reply = (await r.call('SCAN', cursor, 'MATCH', `${prefix}*`, 'COUNT', '1000')) as [string, string[]];
      cursor = reply[0];
      const keys = reply[1];
      if (keys.length > 0) deleted += Number(await r.call('UNLINK', ...keys));
    } while (cursor !== '0');
  } finally {
    r.close();
  }
  return deleted;
}

/** The redis-server command line that listens on `port` (`redis-server 127.0.0.1:6379 …`), if any. */
export function isRedisServerFor(cmdline: string, port: number): boolean {
  const argv = cmdline.split('\0');
  return /(^|\/)redis-server( |$)/.test(argv[0] ?? '') && (argv[0] ?? '').split(' ').some((w) => w.endsWith(`:${port}`));
}

/** Pid of the local redis-server on `port`, found through /proc (undefined if not found or ambiguous). */
export function findRedisPid(port: number): number | undefined {
  const found: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return undefined;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (isRedisServerFor(readFileSync(`/proc/${e}/cmdline`, 'utf8'), port)) found.push(Number(e));
    } catch {
      // process gone
    }
  }
  return found.length === 1 ? found[0] : undefined;
}
