export * from './closeCodes.js';
export * from './frames.js';
export * from './binary/index.js';
export * from './base64.js';
