/**
 * The hooks in the path (DESIGN.md §7, docs/hooks.md), built from the
 * configuration: one HookClient (breaker, slots, timeout) per configured URL.
 * A hook that is not configured is undefined, and its place in the path
 * costs nothing.
 */
import type { HeraldConfig } from '../config/schema.js';
import type { HookName } from '../observability/labels.js';
import type { Logger } from '../observability/logger.js';
import { ConnectHook } from './connectHook.js';
import { HookClient } from './hookClient.js';
import type { HookMetrics } from './hookMetrics.js';
import { JoinHook } from './joinHook.js';
import { PublishHook } from './publishHook.js';
import { RpcHook } from './rpcHook.js';

export interface Hooks {
  connect?: ConnectHook;
  join?: JoinHook;
  publish?: PublishHook;
  rpc?: RpcHook;
}

export function createHooks(c: HeraldConfig, metrics: HookMetrics, log: Logger): Hooks {
  const client = (name: HookName, url: string | undefined, timeoutMs: number): HookClient | undefined =>
    url === undefined
      ? undefined
      : new HookClient(
          {
            name,
            url,
            timeoutMs,
            maxConcurrency: c.hookMaxConcurrency,
            maxQueue: c.hookMaxQueue,
            breakerFailures: c.hookBreakerFailures,
            breakerOpenMs: c.hookBreakerOpenMs,
            maxAnswerBytes: c.hookMaxAnswerBytes,
            secret: c.webhookSecret,
          },
          metrics,
          log,
        );
  const connect = client('connect', c.hookConnectUrl, c.hookConnectTimeoutMs);
  const join = client('join', c.hookJoinUrl, c.hookJoinTimeoutMs);
  const publish = client('publish', c.hookPublishUrl, c.hookPublishTimeoutMs);
  const rpc = client('rpc', c.hookRpcUrl, c.hookRpcTimeoutMs);
  const hooks: Hooks = {
    ...(connect ? { connect: new ConnectHook(connect, c.jwtClockToleranceSec * 1000) } : {}),
    ...(join ? { join: new JoinHook(join) } : {}),
    ...(publish ? { publish: new PublishHook(publish) } : {}),
    ...(rpc ? { rpc: new RpcHook(rpc) } : {}),
  };
  const names = Object.keys(hooks);
  if (names.length > 0) {
    log.info({ hooks: names }, 'hooks in the path enabled');
    // Without a secret the backend cannot tell Herald's calls from anyone's: a forged connect answer is a login.
    if (c.webhookSecret === undefined) log.warn({ hooks: names }, 'hooks are configured without webhookSecret: calls are NOT signed (set HERALD_WEBHOOK_SECRET)');
  }
  return hooks;
}
