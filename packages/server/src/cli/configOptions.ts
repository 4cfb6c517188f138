/**
 * Every config key as a `--kebab-case` flag, shared by `serve` and
 * `config check` so both read exactly what start-up reads.
 */
import { Option, type Command } from 'commander';
import { CONFIG_KEYS, type HeraldConfigInput } from '../config/schema.js';
import { configDefaults } from '../config/load.js';
import { flagName, envName } from '../config/names.js';

function camel(flag: string): string {
  return flag.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
}

function shownDefault(key: string, value: unknown): string {
  if (key === 'host') return ''; // its description explains the two defaults
  if (value === undefined) return '';
  if (Array.isArray(value)) return ` (default: ${value.length ? value.join(',') : 'empty'})`;
  if (typeof value === 'object' && value !== null) return ` (default: ${JSON.stringify(value)})`;
  return ` (default: ${String(value)})`;
}

/** Adds --config and one flag per config key; the help shows each key's variable and default. */
export function addConfigOptions(cmd: Command): Command {
  cmd.option('-c, --config <file>', 'JSON config file, comments allowed (also HERALD_CONFIG)');
  const defaults = configDefaults();
  for (const [key, spec] of Object.entries(CONFIG_KEYS)) {
    // Defaults are shown in the text only: a commander default would hide file and env values.
    cmd.addOption(new Option(`--${flagName(key)} <value>`, `${spec.doc} [${envName(key)}]${shownDefault(key, defaults[key])}`));
  }
  return cmd;
}

/** The config values given as flags (undefined ones left out). */
export function configOverrides(opts: Record<string, unknown>): HeraldConfigInput {
  const overrides: Record<string, unknown> = {};
  for (const key of Object.keys(CONFIG_KEYS)) {
    const v = opts[camel(flagName(key))];
    if (v !== undefined) overrides[key] = v;
  }
  return overrides as HeraldConfigInput;
}
