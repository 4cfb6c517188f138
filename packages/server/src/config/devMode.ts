/**
 * Dev mode: without a JWT secret the server still starts, with a generated
 * secret and API key, so a newcomer can try it in a minute. Never for
 * production: every restart invalidates all tokens.
 */
import { randomBytes } from 'node:crypto';
import type { HeraldConfig } from './schema.js';

export interface DevSecrets {
  jwtSecret: string;
  apiKey: string;
}

/** Fills in missing secrets; returns what was generated (undefined when not in dev mode). */
export function applyDevMode(config: HeraldConfig): { config: HeraldConfig & { jwtSecret: string; apiKey: string }; dev?: DevSecrets } {
  const hmac = config.jwtAlgorithms.some((a) => a.startsWith('HS'));
  if (config.jwtSecret || !hmac) {
    const apiKey = config.apiKey;
    if (!apiKey) throw new Error('HERALD_API_KEY is required when HERALD_JWT_SECRET (or a public key) is configured');
    return { config: { ...config, jwtSecret: config.jwtSecret ?? '', apiKey } };
  }
  const dev: DevSecrets = {
    jwtSecret: randomBytes(32).toString('base64url'),
    apiKey: config.apiKey ?? 'dev-' + randomBytes(24).toString('base64url'),
  };
  return { config: { ...config, ...dev }, dev };
}
