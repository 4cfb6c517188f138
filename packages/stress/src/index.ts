/** @herald/stress — the invariant stress suite, as a library (the CLI is cli.ts). */
export { runStress, selectScenarios, type RunOptions } from './runner.js';
export { PROFILES, type Profile } from './profile.js';
export { formatReport, type RunReport, type ScenarioResult } from './report.js';
export { checkDelivery, checkNodeLeaks, checkSubscriptions, checkMemory, type Violation } from './invariants.js';
export { Rng } from './rng.js';
export { FaultProxy } from './faultProxy.js';
export { SCENARIOS, sabotage } from './scenarios/index.js';
