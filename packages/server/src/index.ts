/**
 * Public API of the Herald server package: start a node, and the few types and
 * helpers an embedding application needs. Everything else is internal and may
 * change between minor versions; it is reachable through `@herald/server/internal`
 * for tests, benchmarks and tools that accept that.
 */
import { startHerald as startNode, type StartOptions } from './node.js';
import type { HeraldConfigInput } from './config/schema.js';
import type { DevSecrets } from './config/devMode.js';
import type { LifecycleEvents } from './events/lifecycle.js';

/** A running node, as an embedding application sees it. */
export interface HeraldHandle {
  /** The port actually bound (useful with port 0). */
  readonly port: number;
  /** http://host:port */
  readonly url: string;
  readonly nodeId: string;
  /** Set in dev mode: the generated secrets. */
  readonly dev: DevSecrets | undefined;
  /** The lifecycle seam: connects, presence, rooms, client publishes, delivery receipts (docs/architecture.md). */
  readonly events: LifecycleEvents;
  /** True once a graceful shutdown started. */
  readonly draining: boolean;
  /** Graceful drain and stop, within `shutdownTimeoutMs` (docs/operations.md). */
  close(): Promise<void>;
}

/** Starts a node with `input` over the defaults, the environment (HERALD_*) and nothing else. */
export function startHerald(input: HeraldConfigInput = {}, opts: StartOptions = {}): Promise<HeraldHandle> {
  return startNode(input, opts);
}

export type { StartOptions } from './node.js';
export { loadConfig, ConfigError, configDefaults } from './config/load.js';
export { CONFIG_KEYS, type HeraldConfig, type HeraldConfigInput } from './config/schema.js';
export { envName, flagName } from './config/names.js';
export { mintToken, parseDurationSec, type MintOptions } from './auth/tokens.js';
export { ApiError, ERRORS, type ErrorCodeName } from './errors.js';
export { verifySignature, signBody, SIGNATURE_HEADER } from './outbound/signature.js';
export type { LifecycleListener, LifecycleEvents, SessionRef, AckedMessage, OfflineReason } from './events/lifecycle.js';
export type { DevSecrets } from './config/devMode.js';
