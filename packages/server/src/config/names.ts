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

/**
 * Environment variables that are ours but not config keys of the server:
 * HERALD_CONFIG names the config file; HERALD_WORKER_SLOT is set by
 * `serve --workers` for each worker process. HERALD_URL (the node's URL) and
 * HERALD_TOKEN (a device token) are read by the tools (`herald publish`, the
 * client examples), so one shell can hold the server's and the tools'
 * variables. Documented in docs/configuration.md.
 */
export const EXTRA_ENV = new Set(['HERALD_CONFIG', 'HERALD_WORKER_SLOT', 'HERALD_URL', 'HERALD_TOKEN']);

/**
 * Kubernetes injects Docker-link-style variables for every Service into every
 * pod of the namespace (unless `enableServiceLinks: false`). A Service named
 * `herald` yields HERALD_SERVICE_HOST, HERALD_SERVICE_PORT[_<NAME>],
 * HERALD_PORT=tcp://ip:port and HERALD_PORT_<n>_<PROTO>[_PROTO|_PORT|_ADDR].
 * They collide with our prefix; start-up recognises and ignores exactly these
 * shapes, so any other unknown HERALD_* (a typo such as HERALD_JWT_SECRT)
 * still stops start-up.
 */
const SERVICE_LINK = [
  /^HERALD_SERVICE_HOST$/,
  /^HERALD_SERVICE_PORT(_[A-Z0-9_]+)?$/,
  /^HERALD_PORT_\d{1,5}_(TCP|UDP|SCTP)(_(PROTO|PORT|ADDR))?$/,
];
const LINK_URL = /^(tcp|udp|sctp):\/\/[^\s/]+:\d{1,5}$/;

/** True when name=value is a Kubernetes service-link variable of a Service named `herald`. */
export function isServiceLinkVariable(name: string, value: string | undefined): boolean {
  if (name === 'HERALD_PORT') return value !== undefined && LINK_URL.test(value.trim());
  return SERVICE_LINK.some((re) => re.test(name));
}

/** The service-link variables present in env, sorted (for the one start-up log line). */
export function serviceLinkVariables(env: NodeJS.ProcessEnv): string[] {
  return Object.keys(env)
    .filter((name) => isServiceLinkVariable(name, env[name]))
    .sort();
}
