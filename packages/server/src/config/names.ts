/** Mechanical mapping of config keys to environment variables and flags. */
import { CONFIG_KEYS, type ConfigKey } from './schema.js';

export const CONFIG_KEY_NAMES = Object.keys(CONFIG_KEYS) as ConfigKey[];

/** jwtSecret → HERALD_JWT_SECRET */
export function envName(key: string): string {
  return 'HERALD_' + key.replace(/([A-Z])/g, '_$1').toUpperCase();
}

/** jwtSecret → jwt-secret */
export function flagName(key: string): string {
  return key.replace(/([A-Z])/g, '-$1').toLowerCase();
}

/** Environment variables that are not config keys but are ours. */
/** HERALD_WORKER_SLOT is set by `serve --workers` for each worker process. */
export const EXTRA_ENV = new Set(['HERALD_CONFIG', 'HERALD_WORKER_SLOT']);
