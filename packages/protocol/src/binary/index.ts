/** Binary protocol v2 (subprotocol `herald.v2.bin`): see docs/protocol-v2.md. */
export * from './errors.js';
export * from './crc32.js';
export * from './frameTypes.js';
export * from './header.js';
export * from './compression.js';
export * from './codec.js';
export * from './v1.js';
export * from './negotiation.js';
export * from './orderedDecoder.js';
