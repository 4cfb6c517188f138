export { runBenchCli, parseCli, HELP } from './cli.js';
export { runCompare } from './compare.js';
export { runScenario, sourceAddresses } from './orchestrator.js';
export type { RunOptions } from './orchestrator.js';
export type { RunReport, RunParams, ScenarioName } from './report.js';
export { isLoopbackHost, assertLoopbackUrl, NonLoopbackTargetError } from './guard.js';
