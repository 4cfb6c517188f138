export * from './closeCodes.js';
export * from './frames.js';
