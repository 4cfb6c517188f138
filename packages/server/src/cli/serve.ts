/** `herald serve`: starts a node (or N workers) with file + env + flag configuration. */
import { loadConfig, ConfigError } from '../config/load.js';
import type { HeraldConfigInput } from '../config/schema.js';
import { startHerald, type HeraldNode } from '../node.js';
import { mintToken } from '../auth/tokens.js';
import { demoAvailable } from '../api/staticFiles.js';

export interface ServeOptions {
  config?: string;
  workers?: number;
  overrides: HeraldConfigInput;
}

/** Prints the dev-mode banner: a loud warning, a ready token and a ready curl command. */
async function devBanner(node: HeraldNode): Promise<void> {
  if (!node.dev) return;
  const token = await mintToken({ secret: node.dev.jwtSecret, sub: 'alice', device: 'laptop', ttlSec: 86_400 });
  const wsUrl = node.url.replace(/^http/, 'ws');
  const lines = [
    '',
    '  ⚠  DEV MODE: HERALD_JWT_SECRET is not set.',
    '     A random secret and API key were generated; they change at every start.',
    '     Never run like this in production: set HERALD_JWT_SECRET and HERALD_API_KEY.',
    '',
    `  API key:      ${node.dev.apiKey}`,
    `  JWT secret:   ${node.dev.jwtSecret}`,
    '',
    '  Connect as alice (token valid 24 h):',
    `    ${wsUrl}/ws?token=${token}&device=laptop`,
    '',
    '  Publish to alice:',
    `    curl -s ${node.url}/api/v1/publish -H 'Authorization: Bearer ${node.dev.apiKey}' \\`,
    `      -H 'Content-Type: application/json' -d '{"to":{"user":"alice"},"data":{"hello":"world"}}'`,
    '',
    demoAvailable() ? `  Chat demo:    ${node.url}/demo/` : '  Chat demo:    not installed (no @herald/client browser bundle found)',
    '',
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

export async function serve(opts: ServeOptions): Promise<number> {
  let config;
  try {
    config = loadConfig({ env: process.env, overrides: opts.overrides, ...(opts.config ? { file: opts.config } : {}) });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`herald: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  if (opts.workers !== undefined && opts.workers > 1) {
    const { runWorkers } = (await import('./workers' + '.js')) as { runWorkers: (n: number, start: () => Promise<void>) => Promise<void> };
    await runWorkers(opts.workers, async () => {
      await startOne(config);
    });
    return 0;
  }
  await startOne(config);
  return 0;
}

async function startOne(config: HeraldConfigInput): Promise<void> {
  const node = await startHerald(config);
  await devBanner(node);
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) {
      // A second signal (e.g. Ctrl-C twice) skips the rest of the drain.
      node.log.warn({ signal }, 'second signal: exiting without finishing the drain');
      process.exit(1);
    }
    stopping = true;
    node.log.info({ signal }, 'shutting down');
    // The drain is bounded by shutdownTimeoutMs step by step; this guards against a hang anywhere else.
    setTimeout(() => {
      node.log.error({ shutdownTimeoutMs: node.config.shutdownTimeoutMs }, 'shutdown timed out; exiting');
      process.exit(1);
    }, node.config.shutdownTimeoutMs + 2000).unref();
    node.close().then(
      () => process.exit(0),
      (err: unknown) => {
        node.log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
