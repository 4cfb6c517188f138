/**
 * `herald config check` validates configuration exactly as `serve` would and
 * prints the effective values (secrets masked); `herald config init` writes a
 * commented starter file. Config files are JSON with `//` comments allowed
 * (see config/jsonc.ts), so the starter file is read as is.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { ConfigError, configDefaults } from '../config/load.js';
import { CONFIG_KEYS, type HeraldConfig, type HeraldConfigInput } from '../config/schema.js';
import { envName, serviceLinkVariables } from '../config/names.js';
import { applyDevMode } from '../config/devMode.js';
import { resolveServeConfig, CONFIG_ERROR_EXIT } from './serve.js';

const SECRET_KEYS = new Set(['jwtSecret', 'apiKey', 'webhookSecret']);

/** redis://user:password@host → redis://user:****@host */
export function maskUrlPassword(url: string): string {
  return url.replace(/^([a-z+]+:\/\/[^:/@]*:)[^@/]+@/i, '$1****@');
}

/** The effective configuration with secrets replaced by a description. */
export function maskedConfig(config: HeraldConfig): Record<string, unknown> {
  const { config: resolved, dev } = applyDevMode(config);
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(CONFIG_KEYS)) {
    const v = (resolved as Record<string, unknown>)[key];
    if (SECRET_KEYS.has(key)) {
      const given = (config as Record<string, unknown>)[key];
      out[key] = typeof given === 'string' && given !== '' ? `<set, ${given.length} characters>` : dev ? '<dev mode: generated at start>' : '<unset>';
    } else if ((key === 'redisUrl' || key === 'webhookUrl') && typeof v === 'string') out[key] = maskUrlPassword(v);
    else out[key] = v ?? null;
  }
  return out;
}

export function configCheck(opts: { config?: string; overrides: HeraldConfigInput }): number {
  let config: HeraldConfig;
  try {
    config = resolveServeConfig(opts);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`herald config check: ${err.message}\n`);
      return CONFIG_ERROR_EXIT;
    }
    throw err;
  }
  const dev = applyDevMode(config).dev !== undefined;
  const links = serviceLinkVariables(process.env);
  const notes = [
    `herald config check: OK, ${dev ? 'DEV MODE (no HERALD_JWT_SECRET: secrets are generated at every start)' : 'production mode'}`,
    ...(links.length ? [`  ignoring Kubernetes service-link variables: ${links.join(', ')}`] : []),
    '  effective configuration (secrets masked):',
  ];
  process.stderr.write(notes.join('\n') + '\n');
  process.stdout.write(JSON.stringify(maskedConfig(config), null, 2) + '\n');
  return 0;
}

/** Keys a starter file sets; every other key is listed commented out with its default. */
const STARTER: Record<string, unknown> = {
  port: 8080,
  engine: 'memory',
  redisUrl: 'redis://127.0.0.1:6379',
  logLevel: 'info',
  shutdownTimeoutMs: 10_000,
  drainWindowMs: 5_000,
};

/** The commented starter file (JSON with // comments, read by --config / HERALD_CONFIG). */
export function starterConfig(): string {
  const defaults = configDefaults();
  const lines = [
    '// Herald configuration: JSON with // comments (read by `herald serve --config <file>` or HERALD_CONFIG).',
    '// Precedence: this file < HERALD_* environment variables < flags. Check it with `herald config check --config <file>`.',
    '// Secrets do not belong here: set HERALD_JWT_SECRET (16+ characters) and HERALD_API_KEY (16+) in the environment.',
    '// Every key is listed in docs/configuration.md.',
    '{',
  ];
  const active = Object.keys(STARTER);
  const rest = Object.keys(CONFIG_KEYS).filter((k) => !active.includes(k) && !SECRET_KEYS.has(k));
  // The commented keys come first so that uncommenting one line (its comma included) stays valid.
  lines.push('  // Every other key with its default: remove the leading // of a line to change it.');
  for (const key of rest) {
    const d = defaults[key];
    const value = d === undefined ? '<unset>' : JSON.stringify(d);
    lines.push(`  // ${JSON.stringify(key)}: ${value},  // ${CONFIG_KEYS[key as keyof typeof CONFIG_KEYS].doc}`);
  }
  lines.push('');
  active.forEach((key, i) => {
    lines.push(`  // ${CONFIG_KEYS[key as keyof typeof CONFIG_KEYS].doc} [${envName(key)}]`);
    lines.push(`  ${JSON.stringify(key)}: ${JSON.stringify(STARTER[key])}${i < active.length - 1 ? ',' : ''}`);
  });
  lines.push('}', '');
  return lines.join('\n');
}

export function configInit(opts: { output?: string; force?: boolean }): number {
  const text = starterConfig();
  if (!opts.output) {
    process.stdout.write(text);
    return 0;
  }
  if (existsSync(opts.output) && !opts.force) {
    process.stderr.write(`herald config init: ${opts.output} exists; pass --force to overwrite\n`);
    return 1;
  }
  writeFileSync(opts.output, text);
  process.stderr.write(`herald config init: wrote ${opts.output}; check it with: herald config check --config ${opts.output}\n`);
  return 0;
}
