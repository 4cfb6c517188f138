/**
 * Reports the connections of crashed nodes on the lifecycle seam: the engine
 * reaps a dead node once for the cluster (engine/redis/nodeReaper.ts) and the
 * reaping node emits, for each connection, `disconnected` (1006, "node lost")
 * and, for a user's last one, `offline` with reason `node_lost` — exactly
 * what the dead node would have emitted had it closed them.
 */
import type { Engine } from '../engine/types.js';
import type { LifecycleEvents, SessionRef } from '../events/lifecycle.js';
import { NODE_LOST_CODE, NODE_LOST_REASON } from './listener.js';

export function reportLostNodes(engine: Engine, events: LifecycleEvents): void {
  engine.onNodeLost?.((lost) => {
    for (const c of lost) {
      const ref: SessionRef = { id: c.conn, tenant: c.tenant, user: c.user, device: c.device, platform: c.platform, connectedAt: c.since };
      events.disconnected(ref, NODE_LOST_CODE, NODE_LOST_REASON);
      if (c.last) events.offline(c.tenant, c.user, 'node_lost', ref);
    }
  });
}
