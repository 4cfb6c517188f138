/**
 * Runs one scenario against one target: forks the client processes, connects
 * and authenticates every connection, drives the publisher, waits for every
 * accepted message to be delivered (bounded), samples the server, and builds
 * the report. Phases are sequenced by messages from the client processes,
 * never by sleeps; every wait has a deadline.
 */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { nowMs } from './clock.js';
import { assertLoopbackAddress, assertLoopbackUrl, NonLoopbackTargetError } from './guard.js';
import { createHistogram, decodeHistogram, summarize } from './histogram.js';
import type { Connected, FromWorker, Tick, ToWorker, WorkerInit } from './ipc.js';
import { MultiProbe } from './probe.js';
import type { MultiSample, ProbeSample } from './probe.js';
import { cpuPercent } from './procstat.js';
import { auxCpuPercent, foreignCpuPercent, mark } from './contention.js';
import type { ContentionMark } from './contention.js';
import type { Progress } from './progress.js';
import { silentProgress } from './progress.js';
import { Publisher } from './publisher.js';
import { publishPhase } from './publishPhase.js';
import type { PhaseContext } from './publishPhase.js';
import { TickAggregator } from './report.js';
import type { RunParams, RunReport, ServerFigures, WarmupFigures } from './report.js';
import { moduleArgs } from './spawn.js';

/** A process can hold ~19k sockets (open-files hard limit 20,000); leave room for pipes and the runtime. */
export const MAX_CONNECTIONS_PER_WORKER = 15_000;
/**
 * Connections per source address. Far below the 28k ephemeral ports of one
 * address, and below Herald's default per-address connect burst (500, then
 * 100/s: `connectBurstPerIp`/`connectRatePerIp`), so a connect storm looks like
 * what a server sees in production — many client addresses — and Herald runs
 * with its defaults.
 */
export const CONNECTIONS_PER_ADDRESS = 400;

export interface RunOptions extends RunParams {
  secret: string;
  apiKey: string;
  /** Server pid for /proc sampling, when it is a local process we know. */
  pid?: number;
  heapSource: 'stats' | 'metrics' | 'none';
  reportIntervalMs: number;
  handshakeTimeoutMs: number;
  /** Longest wait for outstanding deliveries once publishing stops. */
  drainTimeoutSec: number;
  /** After everything is delivered, keep counting this long: resends of reliable messages show up as duplicates. */
  settleSec?: number;
  progress?: Progress;
  /**
   * Several server nodes: clients connect round-robin (by user index) over
   * these URLs, while `url` stays the node that receives the publishes (it may
   * hold none of the recipients). Absent: everything goes to `url`.
   */
  connectUrls?: string[];
  /** Every server process to measure (RSS, heap, CPU are summed; each is reported too). Absent: `url` and `pid`. */
  nodes?: Array<{ url: string; pid?: number }>;
  /**
   * Processes that are part of the system under test but not a server node
   * (the Redis server): not counted as foreign load; their CPU in the
   * measured phase is reported as `machine.auxCpuPercent`.
   */
  auxPids?: number[];
  /**
   * Broadcast and unicast: called just before the first publish of the
   * measured phase (every client process already counting), and just after
   * it (everything accepted delivered, or the drain deadline passed, and
   * counted). External counters (perf stat, callgrind) bracket exactly this
   * phase with them.
   */
  onMeasureStart?: () => Promise<void>;
  /**
   * Paced publishing: most sends allowed to be overdue before the excess is
   * skipped (default: the larger of inFlight and 0.1 s of the rate).
   * Infinity: never skip, so a fixed message count is always published.
   */
  pacerMaxBacklog?: number;
  onMeasureEnd?: () => Promise<void>;
}

/** Connections node j of `nodes` gets when `connections` users are spread round-robin over `nodes` URLs. */
export function connectionsPerNode(connections: number, nodes: number): number[] {
  return Array.from({ length: nodes }, (_, j) => Math.floor(connections / nodes) + (j < connections % nodes ? 1 : 0));
}

/** Loopback source addresses starting at `base` (e.g. 127.0.0.2), enough for `connections`. */
export function sourceAddresses(connections: number, base = '127.0.0.2', count?: number): string[] {
  const n = count ?? Math.max(1, Math.ceil(connections / CONNECTIONS_PER_ADDRESS));
  const parts = base.split('.').map(Number);
  if (parts.length !== 4 || parts.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) throw new Error(`bad source address base "${base}"`);
  if (parts[0] !== 127) throw new NonLoopbackTargetError(base);
  const start = ((parts[1] as number) << 16) | ((parts[2] as number) << 8) | (parts[3] as number);
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const v = start + i;
    if (v > 0xfffffe) throw new Error('source address range exceeds 127.255.255.254');
    out.push(`127.${(v >> 16) & 255}.${(v >> 8) & 255}.${v & 255}`);
  }
  for (const a of out) assertLoopbackAddress(a);
  return out;
}

interface WorkerHandle {
  id: number;
  child: ChildProcess;
  first: number;
  count: number;
}

/** Waits for `cond` to become true, re-checked whenever `kick` is called, with a deadline. */
class Waiter {
  private waiters: Array<() => void> = [];
  kick(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
  until(cond: () => boolean, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      if (cond()) {
        resolve(true);
        return;
      }
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((f) => f !== check);
        resolve(false);
      }, timeoutMs);
      const check = (): void => {
        if (cond()) {
          clearTimeout(timer);
          resolve(true);
        } else this.waiters.push(check);
      };
      this.waiters.push(check);
    });
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function runScenario(o: RunOptions): Promise<RunReport> {
  assertLoopbackUrl(o.url);
  for (const u of o.connectUrls ?? []) assertLoopbackUrl(u);
  for (const n of o.nodes ?? []) assertLoopbackUrl(n.url);
  for (const a of o.addresses) assertLoopbackAddress(a);
  const progress = o.progress ?? silentProgress;
  const startedAt = new Date().toISOString();
  const workersN = Math.max(o.workers, Math.ceil(o.connections / MAX_CONNECTIONS_PER_WORKER));
  const roomNames = o.scenario === 'broadcast' ? Array.from({ length: Math.max(1, o.rooms) }, (_, i) => `bench-${i}`) : [];
  const agg = new TickAggregator(workersN);
  const waiter = new Waiter();
  const nodes = o.nodes ?? [{ url: o.url, ...(o.pid !== undefined ? { pid: o.pid } : {}) }];
  const probe = new MultiProbe(
    nodes.map((n) => ({ httpBase: n.url, ...(n.pid !== undefined ? { pid: n.pid } : {}) })),
    o.heapSource,
    o.apiKey,
  );
  const server: ServerFigures = { rssBytes: {}, heapUsedBytes: {} };
  if (o.pid !== undefined) server.pid = o.pid;
  const baseline = await probe.sample();
  server.rssBytes.baseline = baseline.rssBytes;
  server.heapUsedBytes.baseline = baseline.heapUsedBytes;
  let peakRss = baseline.rssBytes ?? 0;

  // ---- client processes ----
  const { file, execArgv } = moduleArgs('./worker');
  const handles: WorkerHandle[] = [];
  const connected = new Map<number, Connected>();
  const readyIds = new Set<number>();
  const measureAcks = new Set<number>();
  const stopped = new Set<number>();
  const exited = new Set<number>();
  let measureArmed = false;
  const per = Math.floor(o.connections / workersN);
  let first = 0;
  for (let id = 0; id < workersN; id++) {
    const count = per + (id < o.connections % workersN ? 1 : 0);
    const child = fork(file, [], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'json' });
    const h: WorkerHandle = { id, child, first, count };
    first += count;
    handles.push(h);
    child.on('message', (m: FromWorker) => {
      const at = nowMs();
      switch (m.type) {
        case 'ready':
          readyIds.add(m.workerId);
          break;
        case 'tick':
          agg.add(m as Tick, at);
          if (measureArmed) measureAcks.add(m.workerId);
          break;
        case 'completed':
          agg.setCompleted(m.workerId, m.completed);
          break;
        case 'connected':
          connected.set(m.workerId, m);
          break;
        case 'stopped':
          stopped.add(m.workerId);
          break;
      }
      waiter.kick();
    });
    child.on('error', () => undefined);
    child.on('exit', () => {
      exited.add(id);
      waiter.kick();
    });
  }
  const sendTo = (h: WorkerHandle, m: ToWorker): void => {
    // A client process that died is reported through 'exit'; a send racing it must not throw.
    if (h.child.connected) h.child.send(m, (err) => void err);
  };
  const sendAll = (m: ToWorker): void => {
    for (const h of handles) sendTo(h, m);
  };
  const anyExited = (): boolean => exited.size > 0 && stopped.size < workersN;
  const serverPids = [...new Set([...(o.pid !== undefined ? [o.pid] : []), ...nodes.flatMap((n) => (n.pid !== undefined ? [n.pid] : []))])];
  const auxPids = o.auxPids ?? [];
  const ourPids = (): number[] => [process.pid, ...handles.map((h) => h.child.pid ?? 0).filter((p) => p > 0), ...serverPids, ...auxPids];
  let auxStart: ContentionMark | null = null;
  let auxEnd: ContentionMark | null = null;
  let phaseStart: ContentionMark | null = null;
  let phaseEnd: ContentionMark | null = null;
  /** Asks every client process for a tick and waits for all of them: counts are exact afterwards. */
  const flushAll = async (m: ToWorker = { type: 'flush' }, timeoutMs = 5000): Promise<boolean> => {
    measureArmed = true;
    measureAcks.clear();
    sendAll(m);
    const ok = await waiter.until(() => measureAcks.size === workersN || anyExited(), timeoutMs);
    measureArmed = false;
    return ok && !anyExited();
  };

  try {
    for (const h of handles) {
      const init: WorkerInit = {
        type: 'init',
        workerId: h.id,
        target: o.target,
        httpBase: o.url,
        ...(o.connectUrls && o.connectUrls.length > 0 ? { connectBases: o.connectUrls } : {}),
        secret: o.secret,
        first: h.first,
        count: h.count,
        rooms: roomNames,
        addresses: o.addresses,
        connectConcurrency: o.connectConcurrency,
        handshakeTimeoutMs: o.handshakeTimeoutMs,
        reportIntervalMs: o.reportIntervalMs,
        tokenTtlSec: 3600,
      };
      h.child.send(init);
    }
    if (!(await waiter.until(() => readyIds.size === workersN || anyExited(), 20_000)) || anyExited()) {
      throw new Error('client processes did not start');
    }

    // ---- connect ----
    progress.phase('connect', o.connections);
    const connectStartMs = nowMs();
    if (o.scenario === 'storm') {
      auxStart = mark(auxPids, nowMs());
      phaseStart = mark(ourPids(), connectStartMs);
    }
    sendAll({ type: 'connect' });
    const connectTimeout = Math.max(30_000, o.connections * 5 + o.handshakeTimeoutMs);
    const progressTimer = setInterval(() => progress.update(agg.open, `open ${agg.open}`), 200);
    const allConnected = await waiter.until(() => connected.size === workersN || anyExited(), connectTimeout);
    clearInterval(progressTimer);
    if (!allConnected || anyExited()) throw new Error('connect phase did not finish (a client process died or the deadline passed)');
    const conns = [...connected.values()];
    const okTotal = conns.reduce((a, c) => a + c.ok, 0);
    const failedUsers = new Set(conns.flatMap((c) => c.failedUsers));
    const connectHist = createHistogram();
    for (const c of conns) if (c.connectHist) connectHist.add(decodeHistogram(c.connectHist));
    const firstStart = Math.min(...conns.map((c) => c.firstStartUs));
    const lastReady = Math.max(...conns.map((c) => c.lastReadyUs));
    const connectSeconds = okTotal > 0 ? (lastReady - firstStart) / 1e6 : (nowMs() - connectStartMs) / 1000;
    progress.update(okTotal, `held ${okTotal}, ${Math.round(okTotal / Math.max(connectSeconds, 1e-6))}/s`);
    if (o.scenario === 'storm') {
      phaseEnd = mark(ourPids(), nowMs());
      auxEnd = mark(auxPids, nowMs());
    }

    const connectedSample = await probe.sample();
    server.rssBytes.connected = connectedSample.rssBytes;
    server.heapUsedBytes.connected = connectedSample.heapUsedBytes;
    peakRss = Math.max(peakRss, connectedSample.rssBytes ?? 0);

    // ---- scenario ----
    let published = 0;
    let accepted = 0;
    let skipped = 0;
    let expected = 0;
    let measureSeconds = 0;
    let publishSeconds = 0;
    let cpuDuring: number | undefined;
    let warmup: WarmupFigures | undefined;
    const serverTimeline = new Map<number, { cpu?: number; rssMb?: number }>();

    if (o.scenario === 'idle') {
      progress.phase('hold', o.holdSec);
      const holdStart = nowMs();
      auxStart = mark(auxPids, nowMs());
      phaseStart = mark(ourPids(), holdStart);
      const first = connectedSample;
      while (nowMs() - holdStart < o.holdSec * 1000) {
        await sleep(Math.min(1000, Math.max(1, o.holdSec * 1000 - (nowMs() - holdStart))));
        progress.update((nowMs() - holdStart) / 1000, `open ${agg.open}`);
      }
      await flushAll();
      phaseEnd = mark(ourPids(), nowMs());
      auxEnd = mark(auxPids, nowMs());
      const end = await probe.sample();
      server.rssBytes.connected = end.rssBytes;
      server.heapUsedBytes.connected = end.heapUsedBytes;
      peakRss = Math.max(peakRss, end.rssBytes ?? 0);
      if (first.cpuSeconds !== undefined && end.cpuSeconds !== undefined) {
        cpuDuring = cpuPercent({ rssBytes: 0, cpuSeconds: first.cpuSeconds, atMs: first.atMs }, { rssBytes: 0, cpuSeconds: end.cpuSeconds, atMs: end.atMs });
      }
      const held = agg.open;
      server.processes = perProcess(baseline, end, held, o.connectUrls ?? [o.url]);
      if (held > 0 && end.rssBytes !== undefined && baseline.rssBytes !== undefined) server.rssPerConnectionBytes = Math.round((end.rssBytes - baseline.rssBytes) / held);
      if (held > 0 && end.heapUsedBytes !== undefined && baseline.heapUsedBytes !== undefined) server.heapPerConnectionBytes = Math.round((end.heapUsedBytes - baseline.heapUsedBytes) / held);
    } else if (o.scenario === 'broadcast' || o.scenario === 'unicast') {
      const broadcast = o.scenario === 'broadcast';
      const members = roomNames.map(() => 0);
      const users: number[] = [];
      for (let i = 0; i < o.connections; i++) {
        if (failedUsers.has(i)) continue;
        users.push(i);
        if (broadcast) members[i % roomNames.length] = (members[i % roomNames.length] ?? 0) + 1;
      }
      if (users.length === 0) throw new Error('no connections to publish to');

      const publisher = new Publisher(o.url, o.apiKey, o.inFlight, o.payloadBytes, broadcast ? {} : { reliable: o.reliable });
      const phase: PhaseContext = {
        publisher,
        agg,
        until: (cond, ms) => waiter.until(cond, ms),
        kick: () => waiter.kick(),
        sendAll,
        children: handles.map((h) => h.child),
        anyExited,
        progress,
        broadcast,
        roomNames,
        members,
        users,
        rate: o.rate,
        window: o.window,
        maxMessages: o.maxMessages,
        pacerMaxBacklog: o.pacerMaxBacklog,
        drainTimeoutSec: o.drainTimeoutSec,
      };

      // ---- warm-up: the same publishing, counted apart (JIT, caches and pools of every process settle) ----
      if (o.warmupSec !== undefined && o.warmupSec > 0) {
        if (!(await flushAll({ type: 'measure' }, 10_000))) throw new Error('client processes did not start counting');
        const warmStart = nowMs();
        agg.startMeasuring(warmStart);
        const w = await publishPhase(phase, o.warmupSec, warmStart, 'warm-up');
        await flushAll();
        warmup = { seconds: o.warmupSec, published: w.published, expectedDeliveries: w.expected, delivered: agg.delivered, latencyMs: agg.latency() };
        agg.reset();
      }

      if (!(await flushAll({ type: 'measure' }, 10_000))) throw new Error('client processes did not start measuring');
      if (o.onMeasureStart) await o.onMeasureStart();
      const startMs = nowMs();
      auxStart = mark(auxPids, nowMs());
      phaseStart = mark(ourPids(), startMs);
      agg.startMeasuring(startMs);
      let lastSample: ProbeSample = connectedSample;
      const startSample = await probe.sample({ heap: false });
      lastSample = startSample;
      let sampling = false;
      const sampler = setInterval(() => {
        // One sample at a time: a slow /metrics answer must not reorder samples.
        if (sampling) return;
        sampling = true;
        void probe.sample({ heap: false }).then((s) => {
          sampling = false;
          const sec = Math.floor((s.atMs - startMs) / 1000);
          const cpu = s.cpuSeconds !== undefined && lastSample.cpuSeconds !== undefined ? cpuPercent({ rssBytes: 0, cpuSeconds: lastSample.cpuSeconds, atMs: lastSample.atMs }, { rssBytes: 0, cpuSeconds: s.cpuSeconds, atMs: s.atMs }) : undefined;
          serverTimeline.set(sec, { ...(cpu !== undefined ? { cpu } : {}), ...(s.rssBytes !== undefined ? { rssMb: Math.round(s.rssBytes / 104857.6) / 10 } : {}) });
          peakRss = Math.max(peakRss, s.rssBytes ?? 0);
          lastSample = s;
        });
      }, 1000);

      const m = await publishPhase(phase, o.durationSec, startMs, o.scenario);
      ({ published, accepted, skipped, expected } = m);
      publishSeconds = Math.max(0.001, (m.lastPublishMs - startMs) / 1000);
      if (publisher.staleRetries > 0) agg.errors.publish_stale_keepalive_retried = publisher.staleRetries;
      const lastDeliveryMs = m.lastDeliveryMs;
      if (o.settleSec && o.settleSec > 0) await sleep(o.settleSec * 1000);
      // Exact counts: one final flush answered by every worker.
      await flushAll();
      if (o.onMeasureEnd) await o.onMeasureEnd();
      phaseEnd = mark(ourPids(), nowMs());
      auxEnd = mark(auxPids, nowMs());
      clearInterval(sampler);
      measureSeconds = Math.max(0.001, (Math.min(lastDeliveryMs, nowMs()) - startMs) / 1000);
      const endSample = await probe.sample({ heap: false });
      peakRss = Math.max(peakRss, endSample.rssBytes ?? 0);
      if (startSample.cpuSeconds !== undefined && endSample.cpuSeconds !== undefined) {
        cpuDuring = cpuPercent({ rssBytes: 0, cpuSeconds: startSample.cpuSeconds, atMs: startSample.atMs }, { rssBytes: 0, cpuSeconds: endSample.cpuSeconds, atMs: endSample.atMs });
        server.cpuSeconds = Math.round((endSample.cpuSeconds - startSample.cpuSeconds) * 100) / 100;
        if (agg.delivered > 0) server.cpuUsPerDelivery = Math.round((server.cpuSeconds * 1e6 * 100) / agg.delivered) / 100;
      }
      publisher.close();
    }
    progress.stop();

    await flushAll();
    const held = agg.open;
    // ---- stop clients ----
    sendAll({ type: 'stop' });
    await waiter.until(() => stopped.size + exited.size >= workersN, 10_000);
    const endSample = await probe.sample();
    server.rssBytes.end = endSample.rssBytes;
    server.heapUsedBytes.end = endSample.heapUsedBytes;
    server.rssBytes.peak = Math.max(peakRss, endSample.rssBytes ?? 0) || undefined;
    if (cpuDuring !== undefined) server.cpuPercent = cpuDuring;

    const params: RunParams = { ...pickParams(o), workers: workersN };
    return {
      tool: 'herald-bench',
      startedAt,
      params,
      machine: {
        cpus: cpus().length,
        totalMemBytes: totalmem(),
        node: process.version,
        platform: `${process.platform}-${process.arch}`,
        ...(auxPids.length > 0 && auxStart && auxEnd ? { auxCpuPercent: auxCpuPercent(auxStart, auxEnd) } : {}),
        ...(phaseStart && phaseEnd ? { foreignCpuPercent: foreignCpuPercent(phaseStart, phaseEnd), loadAvg1Start: phaseStart.load1, loadAvg1End: phaseEnd.load1 } : {}),
      },
      connections: {
        attempted: o.connections,
        held: o.scenario === 'storm' ? okTotal : held,
        failed: failedUsers.size,
        connectSeconds,
        connectsPerSec: okTotal / Math.max(connectSeconds, 1e-6),
        connectLatencyMs: summarize(connectHist),
      },
      messages: {
        published,
        accepted,
        skipped,
        expectedDeliveries: expected,
        delivered: agg.delivered,
        duplicates: agg.duplicates,
        lost: Math.max(0, expected - agg.delivered),
        measureSeconds,
        publishPerSec: published / Math.max(publishSeconds, 0.001),
        deliveriesPerSec: agg.delivered / Math.max(measureSeconds, 0.001),
      },
      latencyMs: agg.latency(),
      ...(warmup ? { warmup } : {}),
      errors: { ...agg.errors },
      server,
      timeline: agg.timeline(serverTimeline),
    };
  } finally {
    progress.stop();
    for (const h of handles) {
      if (h.child.exitCode === null && h.child.signalCode === null && !exited.has(h.id)) {
        sendTo(h, { type: 'stop' });
      }
    }
    await waiter.until(() => exited.size >= workersN, 5000);
    for (const h of handles) if (!exited.has(h.id)) h.child.kill('SIGKILL');
  }
}

function pickParams(o: RunOptions): RunParams {
  return {
    target: o.target,
    scenario: o.scenario,
    url: o.url,
    connections: o.connections,
    workers: o.workers,
    addresses: o.addresses,
    rooms: o.rooms,
    rate: o.rate,
    window: o.window,
    durationSec: o.durationSec,
    maxMessages: o.maxMessages,
    payloadBytes: o.payloadBytes,
    reliable: o.reliable,
    connectConcurrency: o.connectConcurrency,
    holdSec: o.holdSec,
    inFlight: o.inFlight,
    ...(o.warmupSec !== undefined ? { warmupSec: o.warmupSec } : {}),
  };
}

/** Per server process: RSS and heap before and after, and per connection it holds (connections spread round-robin over `connectUrls`). */
export function perProcess(before: MultiSample, after: MultiSample, held: number, connectUrls: string[]): NonNullable<ServerFigures['processes']> {
  const spread = connectionsPerNode(held, connectUrls.length);
  return after.processes.map((p, i) => {
    const b = before.processes[i];
    const j = connectUrls.indexOf(p.url);
    const conns = j >= 0 ? (spread[j] ?? 0) : 0;
    const out: NonNullable<ServerFigures['processes']>[number] = { url: p.url, connections: conns };
    if (p.pid !== undefined) out.pid = p.pid;
    if (p.rssBytes !== undefined) out.rssBytes = p.rssBytes;
    if (p.heapUsedBytes !== undefined) out.heapUsedBytes = p.heapUsedBytes;
    if (conns > 0 && p.rssBytes !== undefined && b?.rssBytes !== undefined) out.rssPerConnectionBytes = Math.round((p.rssBytes - b.rssBytes) / conns);
    if (conns > 0 && p.heapUsedBytes !== undefined && b?.heapUsedBytes !== undefined) out.heapPerConnectionBytes = Math.round((p.heapUsedBytes - b.heapUsedBytes) / conns);
    return out;
  });
}
