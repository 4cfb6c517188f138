/**
 * The soak's sampler: every `everyMs`, per node, RSS and open files from /proc
 * (a workers node: primary + workers summed), heap used and event-loop delay
 * p99 from /metrics (`nodejs_heap_size_used_bytes` summed over workers,
 * `herald_event_loop_lag_seconds{stat="p99"}` max over workers), connections;
 * plus Redis `used_memory` (INFO memory). Each sample is appended to a JSONL
 * file at once, so a run that dies keeps what it measured.
 */
import { appendFileSync, writeFileSync } from 'node:fs';
import type { World } from '../world.js';

/** One reading. `node` is a node id or `redis`; fields a series does not have are absent. A down node reads `down`. */
export interface Sample {
  /** Seconds since the sampler started. */
  t: number;
  node: string;
  rssMiB?: number;
  heapMiB?: number;
  lagP99Ms?: number;
  fds?: number;
  connections?: number;
  usedMemoryMiB?: number;
  /** The node was down (killed, restarting) or did not answer in time. */
  down?: boolean;
  /** Times the node was started so far (a restart shows as a step). */
  starts?: number;
}

const MIB = 1048576;
const round = (x: number, d = 1): number => Math.round(x * 10 ** d) / 10 ** d;

export class Sampler {
  readonly samples: Sample[] = [];
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  private readonly t0 = Date.now();

  constructor(
    private readonly world: World,
    private readonly file: string,
    private readonly everyMs: number,
  ) {
    writeFileSync(file, '');
  }

  start(): void {
    void this.tick();
    this.timer = setInterval(() => void this.tick(), this.everyMs);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Milliseconds since the sampler started (for fault marks on the same axis). */
  since(wallMs: number): number {
    return (wallMs - this.t0) / 1000;
  }

  private async tick(): Promise<void> {
    if (this.busy) return; // a slow round (node under load) is skipped, not queued
    this.busy = true;
    try {
      const t = round((Date.now() - this.t0) / 1000);
      const rows: Sample[] = [];
      await Promise.all(
        this.world.nodes.map(async (n) => {
          if (!n.isRunning()) {
            rows.push({ t, node: n.id, down: true, starts: n.starts });
            return;
          }
          try {
            const h = await n.health();
            rows.push({ t, node: n.id, rssMiB: round(h.rss / MIB), heapMiB: round(h.heapUsed / MIB), lagP99Ms: round(h.loopLagP99 * 1000, 2), fds: h.openFds, connections: h.connections, starts: n.starts });
          } catch {
            rows.push({ t, node: n.id, down: true, starts: n.starts });
          }
        }),
      );
      try {
        const info = await Promise.race([this.world.admin.info('memory'), new Promise<never>((_, rej) => setTimeout(() => rej(new Error('timeout')), 3000).unref())]);
        const m = /used_memory:(\d+)/.exec(info);
        rows.push(m ? { t, node: 'redis', usedMemoryMiB: round(Number(m[1]) / MIB, 2) } : { t, node: 'redis', down: true });
      } catch {
        rows.push({ t, node: 'redis', down: true });
      }
      rows.sort((a, b) => a.node.localeCompare(b.node));
      this.samples.push(...rows);
      appendFileSync(this.file, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
    } finally {
      this.busy = false;
    }
  }
}
