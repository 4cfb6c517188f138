/** Public API of the Herald server package. */
export { startHerald, type HeraldNode, type StartOptions } from './node.js';
export { loadConfig, ConfigError, configDefaults } from './config/load.js';
export { CONFIG_KEYS, configSchema, type HeraldConfig, type HeraldConfigInput } from './config/schema.js';
export { envName, flagName } from './config/names.js';
export { mintToken, parseDurationSec, type MintOptions } from './auth/tokens.js';
export { ApiError, ERRORS } from './errors.js';
export type { Engine, Route, BusEvent, InboxMessage } from './engine/types.js';
