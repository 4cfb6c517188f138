/**
 * `perf stat` attached to a running server (`-p <pid>`, every thread), with
 * its events disabled until the measured phase starts (`-D -1`) and switched
 * on and off through perf's control descriptors (`--control fd:3,4`): perf
 * answers "ack" once a command is applied, so the counts cover exactly the
 * phase between enable() and disable(), with no sleep and no attach race.
 *
 * Counts are exact event counts (syscall tracepoints, context switches,
 * instructions where the CPU exposes a PMU), so unlike CPU time they do not
 * swing with the load other processes put on the machine.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';

/** Syscalls counted one by one (others only in the total), grouped for the table. */
export const SYSCALL_GROUPS: Record<string, readonly string[]> = {
  writes: ['write', 'writev', 'sendto', 'sendmsg'],
  reads: ['read', 'readv', 'recvfrom', 'recvmsg'],
  'epoll waits': ['epoll_wait', 'epoll_pwait', 'epoll_pwait2'],
  epoll_ctl: ['epoll_ctl'],
  futex: ['futex'],
  'memory (mmap/munmap/madvise/mprotect)': ['mmap', 'munmap', 'madvise', 'mprotect'],
};

export const TOTAL_SYSCALLS_EVENT = 'raw_syscalls:sys_enter';
const TRACING_DIRS = ['/sys/kernel/tracing/events', '/sys/kernel/debug/tracing/events'];

/** The per-syscall tracepoints this kernel has (a missing one is left out, not an error). */
export function syscallEvents(): string[] {
  const dir = TRACING_DIRS.find((d) => existsSync(`${d}/syscalls`));
  const names = Object.values(SYSCALL_GROUPS).flat();
  return dir ? names.filter((n) => existsSync(`${dir}/syscalls/sys_enter_${n}`)).map((n) => `syscalls:sys_enter_${n}`) : [];
}

/** One line of `perf stat -x,`: value, unit, event, … ("<not supported>" / "<not counted>" as value → null). */
export function parsePerfCsv(text: string): Map<string, number | null> {
  const out = new Map<string, number | null>();
  for (const line of text.split('\n')) {
    const f = line.split(',');
    if (f.length < 3 || line.startsWith('#')) continue;
    const event = f[2]?.trim();
    if (!event) continue;
    const v = f[0]?.trim() ?? '';
    const n = Number(v);
    out.set(event, v.startsWith('<') || v === '' || !Number.isFinite(n) ? null : n);
  }
  return out;
}

/** What `perf stat` can count on this machine (probed once with `perf stat -- true`). */
export interface PerfSupport {
  available: boolean;
  /** instructions:u and instructions:k (needs a hardware PMU; usually absent in VMs). */
  instructions: boolean;
  /** Syscall tracepoints (needs tracefs and perf_event_paranoid ≤ -1 or root). */
  syscalls: boolean;
  /** Why something is missing, for the report. */
  note: string;
}

export function probePerf(): PerfSupport {
  // perf writes its counts to stderr.
  const probe = (events: string): Map<string, number | null> | null => {
    const r = spawnSync('perf', ['stat', '-x,', '-e', events, '--', 'true'], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 });
    return r.error || typeof r.stderr !== 'string' ? null : parsePerfCsv(r.stderr);
  };
  const base = probe('context-switches');
  if (!base || base.get('context-switches') === undefined) return { available: false, instructions: false, syscalls: false, note: 'perf is not installed or not permitted (perf_event_paranoid)' };
  const ins = probe('instructions:u,instructions:k');
  const instructions = ins !== null && typeof ins.get('instructions:u') === 'number';
  const sys = probe(TOTAL_SYSCALLS_EVENT);
  const syscalls = sys !== null && typeof sys.get(TOTAL_SYSCALLS_EVENT) === 'number';
  const notes: string[] = [];
  if (!instructions) notes.push('perf cannot count instructions here (no hardware PMU exposed: "<not supported>"); use --callgrind for user-space instructions');
  if (!syscalls) notes.push('syscall tracepoints unavailable (tracefs not mounted, or not permitted)');
  return { available: true, instructions, syscalls, note: notes.join('; ') };
}

/** A `perf stat` attached to `pid`, counting only between enable() and disable(). */
export class PerfSession {
  private readonly child: ChildProcess;
  private stderr = '';
  private readonly exited: Promise<void>;

  constructor(pid: number, readonly events: string[]) {
    this.child = spawn('perf', ['stat', '-x,', '-e', events.join(','), '-p', String(pid), '-D', '-1', '--control', 'fd:3,4'], {
      stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'],
    });
    this.child.stderr?.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((resolve) => this.child.once('exit', () => resolve()));
    this.child.on('error', () => undefined);
  }

  private command(cmd: 'enable' | 'disable', timeoutMs = 10_000): Promise<void> {
    const ctl = this.child.stdio[3] as Writable | null;
    const ack = this.child.stdio[4] as Readable | null;
    if (!ctl || !ack) return Promise.reject(new Error('perf control descriptors missing'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`perf stat did not acknowledge "${cmd}" within ${timeoutMs} ms: ${this.stderr.trim()}`));
      }, timeoutMs);
      const onData = (d: Buffer): void => {
        if (d.toString().includes('ack')) {
          cleanup();
          resolve();
        }
      };
      const onExit = (): void => {
        cleanup();
        reject(new Error(`perf stat exited: ${this.stderr.trim()}`));
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        ack.off('data', onData);
        this.child.off('exit', onExit);
      };
      ack.on('data', onData);
      this.child.once('exit', onExit);
      ctl.write(`${cmd}\n`);
    });
  }

  /** Starts counting (perf has attached to every thread once it acknowledges). */
  enable(): Promise<void> {
    return this.command('enable');
  }

  disable(): Promise<void> {
    return this.command('disable');
  }

  /** Stops perf and returns the counts (null for an event perf could not count). */
  async finish(timeoutMs = 10_000): Promise<Map<string, number | null>> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGINT');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    await this.exited;
    clearTimeout(timer);
    return parsePerfCsv(this.stderr);
  }
}
