/**
 * Serves the chat demo (/demo) from the client package: its demo/ folder and
 * the browser bundle built into dist/browser/. Paths are resolved inside
 * those folders only.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { extname, join, normalize, sep } from 'node:path';
import type { ServerResponse } from 'node:http';

const clientRoot = fileURLToPath(new URL('../../../client/', import.meta.url));
const DEMO_DIR = join(clientRoot, 'demo');
const SDK_DIR = join(clientRoot, 'dist', 'browser');

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
