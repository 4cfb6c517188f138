/**
 * Serves the chat demo (/demo): the page from this package's static/demo/
 * (shipped in the tarball), the SDK at /demo/sdk/ from the installed
 * @herald/client's prebuilt browser bundle (its `./browser` export). Paths
 * are resolved inside those folders only.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { dirname, extname, join, normalize, sep } from 'node:path';
import type { ServerResponse } from 'node:http';

const DEMO_DIR = fileURLToPath(new URL('../../static/demo', import.meta.url));
const SDK_DIR = sdkDir();

/** dist/browser of the @herald/client this server resolves (a workspace link in the repo, node_modules when installed). */
function sdkDir(): string | undefined {
  try {
    return join(dirname(createRequire(import.meta.url).resolve('@herald/client/package.json')), 'dist', 'browser');
  } catch {
    return undefined;
  }
}

/** True when the demo page and the SDK bundle it loads are both present (the banner advertises /demo/ only then). */
export function demoAvailable(): boolean {
  return existsSync(join(DEMO_DIR, 'index.html')) && SDK_DIR !== undefined && existsSync(join(SDK_DIR, 'herald-client.js'));
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
};

/** Returns true when it answered. `rest` is the path after /demo/. */
export async function serveDemoFile(rest: string, res: ServerResponse): Promise<boolean> {
  const [dir, rel] = rest.startsWith('sdk/') ? [SDK_DIR, rest.slice(4)] : [DEMO_DIR, rest === '' ? 'index.html' : rest];
  if (dir === undefined) return false;
  const path = normalize(join(dir, rel));
  if (!path.startsWith(dir + sep)) return false;
  try {
    const body = await readFile(path);
    res.writeHead(200, { 'content-type': TYPES[extname(path)] ?? 'application/octet-stream', 'content-length': body.length, 'cache-control': 'no-cache' });
    res.end(body);
    return true;
  } catch {
    return false;
  }
}
