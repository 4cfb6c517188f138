/**
 * Builds the `/ws` URL. Accepts a ws(s):// or http(s):// URL, absolute or (in
 * browsers) relative to the page, so `new HeraldClient({ url: '/ws' })` works
 * behind the same origin.
 */
export function buildSocketUrl(base: string, params: Record<string, string | undefined>): string {
  const page = (globalThis as { location?: { href?: string } }).location?.href;
  const url = new URL(base, page);
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  // A bare origin means the standard endpoint.
  if (url.pathname === '/' || url.pathname === '') url.pathname = '/ws';
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined) url.searchParams.set(key, value);
  }
  return url.toString();
}
