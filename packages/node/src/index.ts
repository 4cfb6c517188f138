/**
 * @herald/node — the backend SDK for Herald: typed HTTP API calls with
 * retries and idempotency keys, webhook/hook signature verification, and the
 * types of what Herald sends the backend.
 */
export { HeraldApi, type HeraldApiOptions, type CallOptions } from './client.js';
export { HeraldApiError } from './errors.js';
export { DEFAULT_RETRY, type RetryPolicy } from './retry.js';
export { verifySignature, signBody, SIGNATURE_HEADER, type VerifyOptions } from './signature.js';
export type * from './types.js';
export type * from './hooks.js';
