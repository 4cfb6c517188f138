/**
 * Every limit Herald enforces, in one place, with the counters the metrics
 * read (herald_limit_rejections_total{limit}). The gateway and the HTTP API
 * ask here; each method answers "allowed" or how long to wait.
 */
import type { HeraldConfig } from '../config/schema.js';
import type { Stats } from '../observability/stats.js';
import { KeyedBuckets } from './tokenBucket.js';
import type { LimitName } from '../observability/labels.js';
import type { SharedBuckets } from '../engine/types.js';

export type { LimitName } from '../observability/labels.js';

export class Limiter {
  private readonly connectsPerIp: KeyedBuckets;
  private readonly framesPerUser: KeyedBuckets;
  private readonly framesPerTenant: KeyedBuckets;
  private readonly publishPerUser: KeyedBuckets;
  private readonly apiPerTenant: KeyedBuckets;

  constructor(
    private readonly c: HeraldConfig,
    private readonly stats: Stats,
    /** An engine that shares token buckets across nodes, if any. */
    private readonly shared?: SharedBuckets,
  ) {
    this.connectsPerIp = new KeyedBuckets({ ratePerSec: c.connectRatePerIp, burst: c.connectBurstPerIp });
    this.framesPerUser = new KeyedBuckets({ ratePerSec: c.frameRatePerUser, burst: c.frameBurstPerUser });
    this.framesPerTenant = new KeyedBuckets({ ratePerSec: c.frameRatePerTenant, burst: c.frameBurstPerTenant });
    this.publishPerUser = new KeyedBuckets({ ratePerSec: c.publishRatePerUser, burst: c.publishBurstPerUser });
    this.apiPerTenant = new KeyedBuckets({ ratePerSec: c.apiPublishRatePerTenant, burst: c.apiPublishBurstPerTenant });
  }

  reject(limit: LimitName): void {
    this.stats.bump(this.stats.limitRejections, limit);
  }

  /** A new WebSocket from `ip`: 0 when allowed, else ms to wait. */
  connectFromIp(ip: string): number {
    const wait = this.connectsPerIp.take(ip);
    if (wait > 0) this.reject('connect_rate_per_ip');
    return wait;
  }

  /** A client frame (any type but ack): checks the user's and the tenant's buckets. */
  clientFrame(tenant: string, user: string): LimitName | undefined {
    if (this.framesPerUser.take(tenant + '\u0000' + user) > 0) return this.refused('frames_per_user');
    if (this.framesPerTenant.take(tenant) > 0) return this.refused('frames_per_tenant');
    return undefined;
  }

  /** A client room publish, on top of clientFrame. */
  clientPublish(tenant: string, user: string): boolean {
    if (this.publishPerUser.take(tenant + '\u0000' + user) === 0) return true;
    this.reject('publish_per_user');
    return false;
  }

  /**
   * An API publish to `tenant` (`cost` messages): 0 when allowed, else ms to wait.
   * With an engine that shares buckets (Redis) the budget is the cluster's, not
   * this node's; if the engine cannot answer, the node's own bucket decides.
   */
  async apiPublish(tenant: string, cost: number): Promise<number> {
    const { ratePerSec, burst } = this.apiPerTenant.spec;
    if (ratePerSec <= 0) return 0;
    let wait: number;
    if (this.shared) {
      try {
        wait = await this.shared.takeTokens('api:' + tenant, ratePerSec, burst, cost);
      } catch {
        wait = this.apiPerTenant.take(tenant, cost);
      }
    } else {
      wait = this.apiPerTenant.take(tenant, cost);
    }
    if (wait > 0) this.reject('api_publish_per_tenant');
    return wait;
  }

  private refused(limit: LimitName): LimitName {
    this.reject(limit);
    return limit;
  }
}
