/** `herald serve`: starts a node (or N workers) with file + env + flag configuration. */
import cluster from 'node:cluster';
import { loadConfig, ConfigError } from '../config/load.js';
import { serviceLinkVariables } from '../config/names.js';
import { applyDevMode } from '../config/devMode.js';
import type { HeraldConfig } from '../config/schema.js';
import type { HeraldConfigInput } from '../config/schema.js';
import { startHerald, type HeraldNode } from '../node.js';
import type { ConfigSources } from '../config/live.js';
import { mintToken } from '../auth/tokens.js';
import { installLastResort } from '../observability/lastResort.js';
import { createLogger } from '../observability/logger.js';
import { demoAvailable } from '../api/staticFiles.js';
import { v8FullGc } from '../runtime/idleCompaction.js';

export interface ServeOptions {
  config?: string;
  workers?: number;
  overrides: HeraldConfigInput;
}

/** Exit status of every configuration error (docs/configuration.md). */
export const CONFIG_ERROR_EXIT = 2;

/** Shell-safe single quoting for the printed export lines. */
function shellQuote(s: string): string {
  return /^[A-Za-z0-9._:/=+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** One human-readable line, in production too: where the node listens. */
function listeningLine(node: HeraldNode): string {
  const host = node.config.host ?? '';
  const addr = host.includes(':') ? `[${host}]` : host;
  const all = host === '0.0.0.0' || host === '::' ? ` (every interface; locally ${node.url})` : '';
  return `herald ${node.dev ? 'dev mode ' : ''}listening on http://${addr}:${node.port}${all} — node ${node.nodeId}, engine ${node.engine.kind}\n`;
}

/** Prints the dev-mode banner: a loud warning, ready export lines, a ready token and a ready curl command. */
async function devBanner(node: HeraldNode): Promise<void> {
  if (!node.dev) return;
  const token = await mintToken({ secret: node.dev.jwtSecret, sub: 'alice', device: 'laptop', ttlSec: 86_400 });
  const wsUrl = node.url.replace(/^http/, 'ws');
  const lines = [
    '',
    '  ⚠  DEV MODE: HERALD_JWT_SECRET is not set.',
    '     A random secret and API key were generated; they change at every start.',
    '     Never run like this in production: set HERALD_JWT_SECRET and HERALD_API_KEY.',
    `     Listening on ${node.config.host} only; pass --host (or HERALD_HOST) to listen elsewhere.`,
    '',
    `  API key:      ${node.dev.apiKey}`,
    `  JWT secret:   ${node.dev.jwtSecret}`,
    '',
    '  For your shell (the token is alice on device laptop, valid 24 h):',
    `    export HERALD_URL=${shellQuote(node.url)}`,
    `    export HERALD_API_KEY=${shellQuote(node.dev.apiKey)}`,
    `    export TOKEN=${shellQuote(token)}`,
    '',
    '  Connect as alice:',
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

/** Loads and checks the configuration as `serve` would; throws ConfigError. Shared with `config check`. */
export function resolveServeConfig(opts: { config?: string; overrides: HeraldConfigInput; env?: NodeJS.ProcessEnv }): HeraldConfig {
  const config = loadConfig({ env: opts.env ?? process.env, overrides: opts.overrides, ...(opts.config ? { file: opts.config } : {}) });
  // Checks what start-up checks beyond the schema (e.g. an API key when a secret is set); the
  // generated dev secrets are discarded: the node generates its own.
  applyDevMode(config);
  return config;
}

export async function serve(opts: ServeOptions): Promise<number> {
  let config: HeraldConfig;
  try {
    if (opts.workers !== undefined && (!Number.isInteger(opts.workers) || opts.workers < 1)) {
      throw new ConfigError(`--workers must be a positive integer, got ${String(opts.workers)}`, 'workers');
    }
    config = resolveServeConfig(opts);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`herald: ${err.message}\n`);
      return CONFIG_ERROR_EXIT;
    }
    throw err;
  }
  const links = serviceLinkVariables(process.env);
  if (links.length > 0 && !cluster.isWorker) {
    // One line, not one per variable: these are expected in Kubernetes and harmless.
    createLogger(config.logLevel).info({ variables: links }, 'ignoring Kubernetes service-link variables (set enableServiceLinks: false to drop them)');
  }
  if (opts.workers !== undefined && opts.workers > 1) {
    const { runWorkers } = (await import('./workers' + '.js')) as { runWorkers: (n: number, start: () => Promise<void>) => Promise<void> };
    await runWorkers(opts.workers, async () => {
      await startOne(config, sourcesOf(opts));
    });
    return 0;
  }
  try {
    await startOne(config, sourcesOf(opts));
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`herald: ${err.message}\n`);
      return CONFIG_ERROR_EXIT;
    }
    throw err;
  }
  return 0;
}

/** What a reload re-reads: the same file, environment and flags as start-up. */
function sourcesOf(opts: ServeOptions): ConfigSources {
  return { env: process.env, overrides: opts.overrides, ...(opts.config ? { file: opts.config } : {}) };
}

async function startOne(config: HeraldConfigInput, sources: ConfigSources): Promise<void> {
  // V8's full collection, for compaction after a connect storm (runtime/idleCompaction.ts): the
  // server process owns its heap; an embedder decides for its own (--expose-gc). The node runs it
  // only as compactAfterConnects says (0: never).
  const node = await startHerald(config, { configSources: sources, gc: v8FullGc() });
  // SIGHUP (FIXED): re-read the config file and apply limits, per-tenant overrides and rate
  // tables without touching connections; a bad file is refused whole (logged) and the old
  // configuration stays. With --workers each worker gets the signal from the primary.
  process.on('SIGHUP', () => {
    node.reload();
  });
  // The process-level last resort (log, count, keep serving): the server process owns it, an embedder its own.
  installLastResort(node.log);
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
  // Before the listening line: whoever reads it (a supervisor, a test) may signal at once, and a
  // SIGTERM that came before the handler would kill the node without its drain.
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.stdout.write(listeningLine(node));
  await devBanner(node);
}
