/**
 * Origin allow-list against cross-site WebSocket hijacking: a browser page
 * on another site can open a WebSocket to us carrying the user's cookies,
 * but it cannot forge the Origin header. Exact matching only: scheme, host
 * and port as the browser sends them. Requests without Origin (native apps,
 * servers) are not browsers and pass.
 */
export function originAllowed(origin: string | undefined, allowed: readonly string[]): boolean {
  if (allowed.length === 0 || origin === undefined) return true;
  return allowed.includes(origin);
}
