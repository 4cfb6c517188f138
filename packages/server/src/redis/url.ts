/**
 * Herald's Redis URL forms (docs/scaling.md), parsed without I/O and without
 * loading ioredis, so config validation can use it:
 *
 *   redis://[user:pass@]host:port[/db]                      standalone (rediss:// for TLS)
 *   redis+sentinel://[user:pass@]h1:p1,h2:p2/master[/db]    Sentinel; ?sentinelPassword=&sentinelUsername=
 *   redis+cluster://[user:pass@]h1:p1,h2:p2                 Cluster (seed nodes)
 *
 * (`rediss+sentinel://` and `rediss+cluster://` turn TLS on.) WHATWG URL cannot
 * parse comma-separated host lists, hence this small parser.
 */

export type ParsedRedisUrl =
  | { mode: 'standalone'; url: string; tls: boolean; display: string }
  | {
      mode: 'sentinel';
      sentinels: { host: string; port: number }[];
      name: string;
      db: number;
      username?: string;
      password?: string;
      sentinelUsername?: string;
      sentinelPassword?: string;
      tls: boolean;
      display: string;
    }
  | { mode: 'cluster'; nodes: { host: string; port: number }[]; username?: string; password?: string; tls: boolean; display: string };

const MULTI = /^(rediss?)\+(sentinel|cluster):\/\/(?:([^@/]*)@)?([^/?#]+)(\/[^?#]*)?(\?[^#]*)?$/;

function hostList(s: string, defaultPort: number): { host: string; port: number }[] {
  return s.split(',').map((part) => {
    const p = part.trim();
    // [v6]:port, host:port or host
    const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(p);
    if (!m) throw new Error(`bad host in redis URL: ${JSON.stringify(p)}`);
    const port = m[2] === undefined ? defaultPort : Number(m[2]);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`bad port in redis URL: ${JSON.stringify(p)}`);
    return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
  });
}

function credentials(userinfo: string | undefined): { username?: string; password?: string } {
  if (!userinfo) return {};
  const i = userinfo.indexOf(':');
  const user = decodeURIComponent(i < 0 ? userinfo : userinfo.slice(0, i));
  const pass = i < 0 ? undefined : decodeURIComponent(userinfo.slice(i + 1));
  const out: { username?: string; password?: string } = {};
  if (user) out.username = user;
  if (pass) out.password = pass;
  return out;
}

/** Parses a Herald Redis URL; throws with a message naming the problem. Never logs or returns secrets in `display`. */
export function parseRedisUrl(url: string): ParsedRedisUrl {
  const m = MULTI.exec(url);
  if (m) {
    const tls = m[1] === 'rediss';
    const creds = credentials(m[3]);
    const hosts = hostList(m[4]!, m[2] === 'sentinel' ? 26379 : 6379);
    const display = `${m[1]}+${m[2]}://${hosts.map((h) => `${h.host}:${h.port}`).join(',')}`;
    const query = new URLSearchParams(m[6] ?? '');
    if (m[2] === 'cluster') {
      if (m[5] && m[5] !== '/') throw new Error('redis+cluster URL takes no path (Cluster has no databases)');
      return { mode: 'cluster', nodes: hosts, tls, display, ...creds };
    }
    const path = (m[5] ?? '').split('/').filter(Boolean);
    if (path.length < 1 || path.length > 2) throw new Error('redis+sentinel URL needs the master name as its path: redis+sentinel://h1:26379,h2:26379/mymaster[/db]');
    const db = path[1] === undefined ? 0 : Number(path[1]);
    if (!Number.isInteger(db) || db < 0) throw new Error(`bad database number in redis URL: ${JSON.stringify(path[1])}`);
    const out: ParsedRedisUrl = { mode: 'sentinel', sentinels: hosts, name: decodeURIComponent(path[0]!), db, tls, display: `${display}/${path[0]}`, ...creds };
    const sp = query.get('sentinelPassword');
    const su = query.get('sentinelUsername');
    if (sp) out.sentinelPassword = sp;
    if (su) out.sentinelUsername = su;
    return out;
  }
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`not a redis URL: expected redis://, rediss://, redis+sentinel:// or redis+cluster://`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new Error(`unsupported redis URL scheme ${JSON.stringify(u.protocol)}`);
  return { mode: 'standalone', url, tls: u.protocol === 'rediss:', display: `${u.protocol}//${u.hostname}:${u.port || '6379'}${u.pathname === '/' ? '' : u.pathname}` };
}

/** True when `parseRedisUrl` accepts the string (for config validation). */
export function isRedisUrl(url: string): boolean {
  try {
    parseRedisUrl(url);
    return true;
  } catch {
    return false;
  }
}
