/** Every scenario, in run order. */
import type { Scenario } from '../scenario.js';
import { badFrames } from './badFrames.js';
import { crossTenant } from './crossTenant.js';
import { nodeKill } from './nodeKill.js';
import { preauthFlood } from './preauthFlood.js';
import { reconnectStorm } from './reconnectStorm.js';
import { redisRestart } from './redisRestart.js';
import { redisUnreachable } from './redisUnreachable.js';
import { silentHeartbeat } from './silentHeartbeat.js';
import { slowConsumers } from './slowConsumers.js';
import { tokenExpiry } from './tokenExpiry.js';
import { webhooks } from './webhooks.js';
import { hooks } from './hooks.js';

export { sabotage } from './sabotage.js';

export const SCENARIOS: Scenario[] = [reconnectStorm, nodeKill, redisRestart, redisUnreachable, slowConsumers, silentHeartbeat, badFrames, preauthFlood, tokenExpiry, crossTenant, webhooks, hooks];
