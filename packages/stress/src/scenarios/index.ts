/** Every scenario, in run order (those that reconfigure the nodes last and together: fewer restarts). */
import type { Scenario } from '../scenario.js';
import { badFrames } from './badFrames.js';
import { crossTenant } from './crossTenant.js';
import { ingest } from './ingest.js';
import { nodeKill } from './nodeKill.js';
import { preauthFlood } from './preauthFlood.js';
import { reconnectStorm } from './reconnectStorm.js';
import { rooms } from './rooms.js';
import { redisRestart } from './redisRestart.js';
import { redisUnreachable } from './redisUnreachable.js';
import { silentHeartbeat } from './silentHeartbeat.js';
import { slowConsumers } from './slowConsumers.js';
import { sse } from './sse.js';
import { tokenExpiry } from './tokenExpiry.js';
import { webhooks } from './webhooks.js';
import { hooks } from './hooks.js';

export { sabotage } from './sabotage.js';

export const SCENARIOS: Scenario[] = [reconnectStorm, nodeKill, redisRestart, redisUnreachable, slowConsumers, silentHeartbeat, badFrames, preauthFlood, tokenExpiry, crossTenant, sse, rooms, ingest, webhooks, hooks];
