/** `herald publish`: builds a publish body from flags and posts it. */

/**
 * The node's HTTP base URL from --url / HERALD_URL. HERALD_URL is shared with
 * the client examples, which may hold the WebSocket form (ws://host:port/ws):
 * both forms are accepted.
 */
export function nodeBaseUrl(url: string): string {
  return url
    .trim()
    .replace(/^ws(s?):\/\//i, 'http$1://')
    .replace(/\/+$/, '')
    .replace(/\/ws$/, '');
}

export async function publishCommand(o: Record<string, unknown>): Promise<number> {
  const str = (k: string): string | undefined => (typeof o[k] === 'string' ? (o[k] as string) : undefined);
  let to: Record<string, unknown>;
  const tenant = str('tenant');
  if (str('user')) to = { user: str('user'), ...(str('device') ? { device: str('device') } : {}) };
  else if (str('users')) to = { users: str('users')!.split(',').map((s) => s.trim()).filter(Boolean) };
  else if (str('room')) to = { room: str('room') };
  else if (o.all === true) to = { all: true };
  else if (tenant) to = { tenant };
  else {
    process.stderr.write('herald publish: choose a target: --user, --users, --room, --tenant or --all\n');
    return 2;
  }
  if (tenant && !('tenant' in to) && !('all' in to)) to.tenant = tenant;
  const raw = str('data') ?? '';
  let data: unknown;
  try {
    data = JSON.parse(raw);
  } catch {
    data = raw;
  }
  const apiKey = str('apiKey') ?? process.env.HERALD_API_KEY;
  if (!apiKey) {
    process.stderr.write('herald publish: set HERALD_API_KEY or pass --api-key (dev mode prints the key at start)\n');
    return 2;
  }
  const body = {
    to,
    data,
    ...(str('event') ? { event: str('event') } : {}),
    ...(o.unreliable === true ? { reliable: false } : {}),
    ...(typeof o.ttl === 'number' ? { ttl: o.ttl } : {}),
    ...(str('idempotencyKey') ? { idempotency_key: str('idempotencyKey') } : {}),
  };
  const url = nodeBaseUrl(str('url') ?? 'http://127.0.0.1:8080') + '/api/v1/publish';
  let res: Response;
  try {
    res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` }, body: JSON.stringify(body) });
  } catch (err) {
    process.stderr.write(`herald publish: cannot reach ${url}: ${(err as Error).message}\n`);
    return 1;
  }
  const text = await res.text();
  (res.ok ? process.stdout : process.stderr).write(text + '\n');
  return res.ok ? 0 : 1;
}
