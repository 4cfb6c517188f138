/**
 * Loads configuration from, in increasing precedence: defaults, a JSON config
 * file (--config or HERALD_CONFIG; `//` and `/* *\/` comments allowed),
 * HERALD_* environment variables, flags.
 * Unknown keys and bad values throw a ConfigError naming the key and source.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { configSchema, CONFIG_KEYS, type HeraldConfig, type HeraldConfigInput } from './schema.js';
import { stripJsonComments } from './jsonc.js';
import { CONFIG_KEY_NAMES, envName, EXTRA_ENV, isServiceLinkVariable } from './names.js';

export class ConfigError extends Error {
  constructor(message: string, readonly key?: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export interface LoadOptions {
  /** Path of a JSON config file. */
  file?: string;
  /** Environment to read HERALD_* from (default: none). */
  env?: NodeJS.ProcessEnv;
  /** Highest precedence values (from flags or code). */
  overrides?: HeraldConfigInput;
}

type Source = { name: string; values: Record<string, unknown> };

function fromEnv(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const byEnv = new Map(CONFIG_KEY_NAMES.map((k) => [envName(k), k]));
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('HERALD_') || value === undefined || EXTRA_ENV.has(name)) continue;
    // Kubernetes service links (see names.ts): ignored here, logged once by `herald serve`.
    if (isServiceLinkVariable(name, value)) continue;
    const key = byEnv.get(name);
    if (!key) throw new ConfigError(`unknown environment variable ${name}`, name);
    if (value === '') continue; // an empty variable means "not set"
    out[key] = value;
  }
  return out;
}

function fromFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(stripJsonComments(text));
  } catch (err) {
    throw new ConfigError(`config file ${path} is not valid JSON: ${(err as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError(`config file ${path} must hold a JSON object`);
  }
  return parsed as Record<string, unknown>;
}

function describeIssue(issue: z.core.$ZodIssue, sources: Source[]): ConfigError {
  const key = issue.path.length > 0 ? String(issue.path[0]) : undefined;
  // Inside an object-valued key (eventRateLimits, tenantOverrides): name the whole path.
  if (key && issue.path.length > 1 || (key && issue.code === 'unrecognized_keys')) {
    const path = issue.path.map((p) => (/^[A-Za-z_][A-Za-z0-9_]*$/.test(String(p)) ? String(p) : JSON.stringify(String(p)))).join('.');
    const from = [...sources].reverse().find((s) => key in s.values)?.name ?? 'defaults';
    const what = issue.code === 'unrecognized_keys' ? `unknown key "${issue.keys[0] ?? '?'}" in ${path}` : `invalid ${path}: ${issue.message}`;
    return new ConfigError(`${what} (from ${from})`, key);
  }
  if (issue.code === 'unrecognized_keys') {
    const k = issue.keys[0] ?? '?';
    const from = sources.find((s) => k in s.values)?.name ?? 'config';
    return new ConfigError(`unknown config key "${k}" (from ${from})`, k);
  }
  if (!key) return new ConfigError(`invalid config: ${issue.message}`);
  const from = [...sources].reverse().find((s) => key in s.values);
  const shown = key.toLowerCase().includes('secret') || key.toLowerCase().includes('key') ? '<hidden>' : JSON.stringify(maskCredentials(from?.values[key]));
  return new ConfigError(`invalid value ${shown} for "${key}" (from ${from?.name ?? 'defaults'}): ${issue.message}`, key);
}

/** Validates merged sources; throws ConfigError on the first problem. */
export function loadConfig(opts: LoadOptions = {}): HeraldConfig {
  const sources: Source[] = [];
  const file = opts.file ?? opts.env?.HERALD_CONFIG;
  if (file) sources.push({ name: `file ${file}`, values: fromFile(file) });
  if (opts.env) sources.push({ name: 'environment', values: fromEnv(opts.env) });
  if (opts.overrides) {
    const defined = Object.fromEntries(Object.entries(opts.overrides).filter(([, v]) => v !== undefined));
    sources.push({ name: 'flags', values: defined });
  }
  const merged = Object.assign({}, ...sources.map((s) => s.values));
  const result = configSchema.safeParse(merged);
  if (!result.success) throw describeIssue(result.error.issues[0]!, sources);
  // Webhooks are always signed: a URL without the secret would send events nobody can verify.
  if (result.data.webhookUrl !== undefined && result.data.webhookSecret === undefined) {
    throw new ConfigError('webhookUrl (HERALD_WEBHOOK_URL) requires webhookSecret (HERALD_WEBHOOK_SECRET, at least 16 characters): webhook calls are always signed', 'webhookSecret');
  }
  return result.data;
}

/** Default value of every key (undefined for optional keys without default). */
export function configDefaults(): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(CONFIG_KEYS).map(([k, v]) => {
      const r = (v.type as z.ZodTypeAny).safeParse(undefined);
      return [k, r.success ? r.data : undefined];
    }),
  );
}

/** A value as it may be shown in an error: a URL's password (redis://u:pass@h, amqp://…) is replaced by ***. */
export function maskCredentials(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  return value.replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)[^@/\s]*@/gi, '$1***@');
}
