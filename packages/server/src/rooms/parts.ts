/** The room features a node composes once and shares between the gateway, the publish pipeline and the HTTP API. */
import type { HeraldConfig } from '../config/schema.js';
import type { DeliveryHub } from '../delivery/hub.js';
import type { Engine } from '../engine/types.js';
import type { Logger } from '../observability/logger.js';
import { Awareness } from './awareness.js';
import { HistoryPolicies } from './historyPolicy.js';
import { RoomRecovery } from './recovery.js';
import { RoomBatcher } from './roomBatching.js';
import { RoomPublisher } from './roomPublish.js';

export interface RoomParts {
  recovery: RoomRecovery;
  roomPublisher: RoomPublisher;
  awareness: Awareness;
  /** The room batching window, when configured (roomBatchWindowMs > 0). */
  batcher: RoomBatcher | undefined;
}

export function roomParts(config: HeraldConfig, hub: DeliveryHub, engine: Engine, nodeId: string, log: Logger): RoomParts {
  const policies = new HistoryPolicies(config);
  const batcher = config.roomBatchWindowMs > 0 ? new RoomBatcher(hub, config.roomBatchWindowMs, config.roomBatchMaxBytes) : undefined;
  batcher?.install();
  return {
    batcher,
    recovery: new RoomRecovery(hub, engine.roomHistory, policies),
    roomPublisher: new RoomPublisher(hub, engine.roomHistory, policies),
    awareness: new Awareness(config, hub, engine, nodeId, log),
  };
}
