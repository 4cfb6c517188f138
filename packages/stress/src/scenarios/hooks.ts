/**
 * The connect hook failing during connect storms (docs/hooks.md): tokenless
 * WebSockets storm the balancer while the hook backend (behind a fault proxy)
 * is healthy, slow, hangs, answers 500 or garbage, or is down — in a seeded
 * order. Every attempt must get a welcome or a close within the hook timeout
 * plus slack (1013 while the hook fails, never an admission); the breaker must
 * open; once the backend is back, connects succeed again on every node; no call
 * stays in flight or queued and (runner) no connection or handle is left, memory flat.
 */
import { WebSocket } from 'ws';
import { FaultProxy } from '../faultProxy.js';
import { httpRequest, metricSum } from '../http.js';
import { checkConnectAttempts, type ConnectAttempt } from '../hookInvariants.js';
import { HookServer, type HookMode } from '../hookServer.js';
import type { Scenario, ScenarioContext } from '../scenario.js';
import { uid } from '../scenario.js';
import { delay, waitFor, WaitTimeout } from '../wait.js';

/** herald_hook_failures_total reasons (docs/hooks.md): read for the report. */
const HOOK_FAILURE_REASONS = ['timeout', 'network', 'status', 'too_large', 'bad_json', 'bad_answer', 'breaker_open', 'queue_full', 'queue_timeout'];
const HOOK_TIMEOUT_MS = 1500;
const BREAKER_FAILURES = 5;
const BREAKER_OPEN_MS = 1000;
/**
 * Slack on top of the hook timeout for an answer: the upgrade through the balancer, the session's
 * activation (Redis) and the runner's own event loop, on a shared 2-core machine that ran at load
 * 20–30 here (answers with a healthy backend took up to 6 s then). A stuck connection is never answered.
 */
const ANSWER_SLACK_MS = 6000;

type Phase = HookMode | 'down';
const BAD: readonly Phase[] = ['hang', 'fail', 'garbage', 'down'];

export const hooks: Scenario = {
  name: 'hooks',
  summary: 'connect hook hanging / failing / down during connect storms: 1013 in bound, breaker opens, recovery',
  reconfigures: true,
  async run(ctx) {
    const { world, rng } = ctx;
    const secret = `stress-hook-secret-${rng.u32().toString(16)}`;
    const backend = new HookServer(secret);
    await backend.listen();
    const proxy = new FaultProxy('hook', [{ host: '127.0.0.1', port: backend.port }], rng.fork('hook-proxy'));
    await proxy.listen();
    const open = new Set<WebSocket>();
    try {
      await world.reconfigure({
        HERALD_HOOK_CONNECT_URL: `http://127.0.0.1:${proxy.port}/herald/connect`,
        HERALD_WEBHOOK_SECRET: secret,
        HERALD_HOOK_CONNECT_TIMEOUT_MS: String(HOOK_TIMEOUT_MS),
        HERALD_HOOK_BREAKER_FAILURES: String(BREAKER_FAILURES),
        HERALD_HOOK_BREAKER_OPEN_MS: String(BREAKER_OPEN_MS),
        HERALD_HOOK_MAX_CONCURRENCY: '16',
        HERALD_HOOK_MAX_QUEUE: '32',
        // Above the hook timeout: a connection waiting for the hook is closed by the hook's answer, not by the auth timer.
        HERALD_AUTH_TIMEOUT_MS: String(HOOK_TIMEOUT_MS * 3),
      });
      await storms(ctx, backend, proxy, open);
    } finally {
      for (const ws of open) ws.terminate();
      await proxy.close();
      await backend.close();
    }
  },
};

async function storms(ctx: ScenarioContext, backend: HookServer, proxy: FaultProxy, open: Set<WebSocket>): Promise<void> {
  const { world, profile: p, rng } = ctx;
  const size = p.devices;
  // Healthy first and last; the failures (and a slow phase) in a seeded order between.
  const phases: Phase[] = ['ok', ...rng.shuffle<Phase>([...BAD, 'slow']), ...rng.sample(BAD, p.rounds - 1)];
  const attempts: ConnectAttempt[] = [];
  let n = 0;
  /** With `retryUntil` (ms since the epoch), a connect refused breaker_open is retried until then; the last try is returned. */
  const storm = async (phase: Phase, count: number, urlOf: (i: number) => string, retryUntil?: number): Promise<ConnectAttempt[]> => {
    backend.mode = phase === 'down' ? 'ok' : phase;
    backend.slowMs = rng.int(20, HOOK_TIMEOUT_MS / 10);
    proxy.setRefuse(phase === 'down');
    if (phase === 'down') proxy.cut(1);
    const batch = await Promise.all(
      Array.from({ length: count }, (_, i) => {
        const banned = rng.chance(0.1);
        const user = uid(ctx, `h${n++ % p.users}`);
        const q = `device=s${n}&u=${encodeURIComponent(user)}${banned ? '&ban=1' : ''}`;
        const backendState = phase === 'ok' || phase === 'slow' ? 'healthy' : 'failing';
        const once = (): Promise<ConnectAttempt> => attempt(`${urlOf(i)}?${q}`, backendState, banned, open, HOOK_TIMEOUT_MS + ANSWER_SLACK_MS + 2000);
        return retryUntil === undefined ? once().then((a) => [a]) : retrying(once, retryUntil);
      }),
    );
    attempts.push(...batch.flat());
    return batch.map((tries) => tries[tries.length - 1]!);
  };
  for (const phase of phases) {
    await storm(phase, size, () => world.wsUrl);
    // Welcomed connections stay a little, then leave (their slots must come back).
    await delay(rng.int(50, 300));
    for (const ws of open) ws.close(1000);
  }
  // Recovery: the backend is healthy. Every process has its own breaker (docs/hooks.md, "workers"),
  // and the workers node's processes take connections in turn: each admits again once its open
  // time is up and its one half-open probe succeeded; calls arriving while that probe is out are
  // refused 1013 breaker_open. So a client retrying (as the SDK does) is admitted within the open
  // time + one probe per process — not at once. First every node (any of its processes) admits…
  const recoveredAt = Date.now();
  backend.mode = 'ok';
  proxy.setRefuse(false);
  for (const node of world.nodes) {
    await waitFor(`${node.id} admits through the hook again`, async () => {
      const a = await attempt(`${node.wsUrl}?device=probe&u=${encodeURIComponent(uid(ctx, 'probe'))}`, 'healthy', false, open, HOOK_TIMEOUT_MS + ANSWER_SLACK_MS);
      for (const ws of open) ws.close(1000);
      return a.welcome;
    }, BREAKER_OPEN_MS + HOOK_TIMEOUT_MS + 10_000, 200);
  }
  // …then a whole storm, each connect retried on breaker_open, is admitted within the bound.
  const bound = BREAKER_OPEN_MS + HOOK_TIMEOUT_MS + ANSWER_SLACK_MS;
  // A process no probe reached yet (the balancer and the shared port pick) needs one probe round trip from now.
  const last = await storm('ok', size, () => world.wsUrl, Math.max(recoveredAt + bound, Date.now() + HOOK_TIMEOUT_MS + ANSWER_SLACK_MS));
  const after = last.filter((a) => !a.welcome && !(a.banned && a.code === 4003));
  if (after.length) ctx.violations.push({ invariant: 'scenario', detail: `connect hook recovered, yet ${after.length} of ${last.length} connects failed, retried on breaker_open up to the open time + a probe (${after.slice(0, 3).map((a) => `${String(a.code)} ${String(a.reason)}`).join('; ')})` });
  const retried = attempts.filter((a) => a.retry === true).length;
  if (retried) ctx.notes.push(`recovery: ${retried} connect(s) refused breaker_open by a process whose breaker was still open or probing, then admitted on retry (bound ${bound} ms)`);
  for (const ws of open) ws.close(1000);

  const { violations, stats } = checkConnectAttempts(attempts, HOOK_TIMEOUT_MS + ANSWER_SLACK_MS);
  const times = attempts.filter((a) => a.answeredAt !== undefined).map((a) => (a.answeredAt as number) - a.startedAt).sort((x, y) => x - y);
  const median = times[Math.floor(times.length / 2)] ?? 0;
  ctx.violations.push(...violations);
  ctx.violations.push(...(await hookState(ctx)));
  ctx.notes.push(
    `phases ${phases.join(' → ')} → ok; ${attempts.length} connect attempts: ${stats.welcomed} welcomed, ${stats.refused4003} refused 4003, ${stats.tryLater1013} closed 1013 (${stats.breakerOpen} by the open breaker); answers median ${median} ms, slowest ${stats.worstMs} ms (bound ${HOOK_TIMEOUT_MS + ANSWER_SLACK_MS} ms)`,
    `backend calls ${Object.entries(backend.calls).map(([m, k]) => `${m}×${k}`).join(', ')}; ${backend.badSignature} bad signatures; proxy refused ${proxy.stats.refused}`,
  );
  if (backend.badSignature > 0) ctx.violations.push({ invariant: 'scenario', detail: `connect hook: ${backend.badSignature} call(s) with a bad signature` });
}

/** Pause between tries after a breaker_open refusal: about a client's first reconnect backoff. */
const RETRY_MS = 100;

/** Connects until a try is not refused breaker_open, or `until` passed; every try, retries marked. */
async function retrying(once: () => Promise<ConnectAttempt>, until: number): Promise<ConnectAttempt[]> {
  const tries = [await once()];
  for (let a = tries[0]!; !a.welcome && a.code === 1013 && a.reason?.includes('breaker') === true && Date.now() + RETRY_MS < until; ) {
    await delay(RETRY_MS);
    a = await once();
    a.retry = true;
    tries.push(a);
  }
  return tries;
}

/** One tokenless connect: resolves at the welcome (kept open) or the close, or after `giveUpMs`. */
function attempt(url: string, backend: ConnectAttempt['backend'], banned: boolean, open: Set<WebSocket>, giveUpMs: number): Promise<ConnectAttempt> {
  const a: ConnectAttempt = { backend, banned, startedAt: Date.now(), welcome: false };
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { handshakeTimeout: giveUpMs });
    open.add(ws);
    const done = (): void => {
      clearTimeout(t);
      resolve(a);
    };
    const t = setTimeout(() => {
      ws.terminate();
      done();
    }, giveUpMs);
    ws.on('error', () => {});
    ws.on('message', (d: Buffer) => {
      if (a.answeredAt !== undefined) return;
      if ((JSON.parse(d.toString()) as { type?: string }).type === 'welcome') {
        a.welcome = true;
        a.answeredAt = Date.now();
        done();
      }
    });
    ws.on('close', (code: number, reason: Buffer) => {
      open.delete(ws);
      if (a.answeredAt !== undefined) return;
      a.answeredAt = Date.now();
      a.code = code;
      a.reason = reason.toString();
      done();
    });
  });
}

/** The breaker opened somewhere, and no hook call is left in flight or queued. */
async function hookState(ctx: ScenarioContext): Promise<{ invariant: 'scenario'; detail: string }[]> {
  const out: { invariant: 'scenario'; detail: string }[] = [];
  let breakerOpened = 0;
  const reasons = new Map<string, number>();
  try {
    await waitFor('no hook call in flight or queued', async () => {
      for (const n of ctx.world.liveNodes()) {
        const m = (await httpRequest(n.port, 'GET', '/metrics', { timeoutMs: 5000 })).body;
        if ((metricSum(m, 'herald_hook_inflight', { hook: 'connect' }) ?? 0) + (metricSum(m, 'herald_hook_queued', { hook: 'connect' }) ?? 0) > 0) return false;
      }
      return true;
    }, 10_000, 200);
  } catch (err) {
    if (!(err instanceof WaitTimeout)) throw err;
    out.push({ invariant: 'scenario', detail: `connect hook: calls still in flight or queued 10 s after the last storm` });
  }
  for (const n of ctx.world.liveNodes()) {
    const m = (await httpRequest(n.port, 'GET', '/metrics', { timeoutMs: 5000 })).body;
    for (const r of HOOK_FAILURE_REASONS) {
      const k = metricSum(m, 'herald_hook_failures_total', { hook: 'connect', reason: r }) ?? 0;
      if (k > 0) reasons.set(r, (reasons.get(r) ?? 0) + k);
    }
    breakerOpened += metricSum(m, 'herald_hook_failures_total', { hook: 'connect', reason: 'breaker_open' }) ?? 0;
  }
  if (breakerOpened === 0) out.push({ invariant: 'scenario', detail: 'connect hook: the breaker never opened (no breaker_open failure counted on any node)' });
  ctx.notes.push(`hook failures counted: ${[...reasons].map(([r, k]) => `${r}×${k}`).join(', ') || 'none'}`);
  return out;
}
