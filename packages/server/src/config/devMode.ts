/**
 * Dev mode: without a JWT secret the server still starts, with a generated
 * secret and API key, so a newcomer can try it in a minute. Never for
 * production: every restart invalidates all tokens.
 *
 * Dev mode also serves /demo/token, which mints tokens for any user and
 * tenant; so it listens on 127.0.0.1 unless a host is given explicitly
 * (file, HERALD_HOST or --host). A production node (a secret or public key
 * configured) listens on every interface by default, which is what a
 * container or VM needs.
 */
import { randomBytes } from 'node:crypto';
import type { HeraldConfig } from './schema.js';
import { ConfigError } from './load.js';

export interface DevSecrets {
  jwtSecret: string;
  apiKey: string;
}

/** Where a node listens when no host is configured. */
export const DEFAULT_HOST = '0.0.0.0';
export const DEV_DEFAULT_HOST = '127.0.0.1';

export type ResolvedConfig = HeraldConfig & { jwtSecret: string; apiKey: string; host: string };

/** Fills in missing secrets and the host; returns what was generated (undefined when not in dev mode). */
export function applyDevMode(config: HeraldConfig): { config: ResolvedConfig; dev?: DevSecrets } {
  checkKeyMaterial(config);
  const hmac = config.jwtAlgorithms.some((a) => a.startsWith('HS'));
  if (config.jwtSecret || !hmac) {
    const apiKey = config.apiKey;
    if (!apiKey) throw new ConfigError('HERALD_API_KEY is required when HERALD_JWT_SECRET (or a public key) is configured', 'apiKey');
    return { config: { ...config, jwtSecret: config.jwtSecret ?? '', apiKey, host: config.host ?? DEFAULT_HOST } };
  }
  const dev: DevSecrets = {
    jwtSecret: randomBytes(32).toString('base64url'),
    apiKey: config.apiKey ?? 'dev-' + randomBytes(24).toString('base64url'),
  };
  return { config: { ...config, ...dev, host: config.host ?? DEV_DEFAULT_HOST }, dev };
}

/**
 * Rules across keys that the schema cannot express, checked before anything
 * starts so they are configuration errors (exit 2) naming the key, not
 * failures deep in start-up. The JWT verifier enforces the same.
 */
function checkKeyMaterial(config: HeraldConfig): void {
  const algs = config.jwtAlgorithms;
  if (algs.length === 0) throw new ConfigError('jwtAlgorithms must name at least one algorithm', 'jwtAlgorithms');
  const hs = algs.filter((a) => a.startsWith('HS')).length;
  if (hs > 0 && hs < algs.length) throw new ConfigError(`jwtAlgorithms must not mix HS* with public-key algorithms (got ${algs.join(',')})`, 'jwtAlgorithms');
  if (hs === 0 && !config.jwksUrl && !config.jwtPublicKey) throw new ConfigError(`jwtAlgorithms ${algs.join(',')} need jwtPublicKey or jwksUrl`, 'jwtAlgorithms');
}
