/**
 * User-space instruction counts without a hardware PMU: the server runs under
 * `valgrind --tool=callgrind` with instrumentation off (start-up and warm-up
 * run at valgrind's uninstrumented speed), `callgrind_control -i on` + `-z`
 * when the measured phase starts and `-d` (dump) when it ends; the dump's
 * `summary:` line is the instructions executed (Ir) by every thread of the
 * process in the phase. Kernel work is not simulated: see the syscall counts.
 * Roughly 20–50× slower than native, so its workloads are scaled down.
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export function callgrindAvailable(): boolean {
  const v = spawnSync('valgrind', ['--version'], { encoding: 'utf8', timeout: 10_000 });
  const c = spawnSync('callgrind_control', ['--version'], { encoding: 'utf8', timeout: 10_000 });
  return !v.error && v.status === 0 && !c.error;
}

/** The command prefix that runs a server under callgrind, dumps going to `<dir>/<label>.<pid>.out[.N]`. */
export function callgrindWrap(dir: string, label: string): string[] {
  mkdirSync(dir, { recursive: true });
  return ['valgrind', '--tool=callgrind', '--instr-atstart=no', '--dump-instr=no', `--callgrind-out-file=${join(dir, `${label}.%p.out`)}`];
}

function control(args: string[], timeoutMs = 60_000): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('callgrind_control', args, { timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) reject(new Error(`callgrind_control ${args.join(' ')}: ${err.message} ${stderr}`));
      else if (/error|not found|no active/i.test(stdout)) reject(new Error(`callgrind_control ${args.join(' ')}: ${stdout.trim()}`));
      else resolve();
    });
  });
}

/** `summary:` (or `totals:`) of a callgrind dump: the Ir count. */
export function parseCallgrindSummary(text: string): number | undefined {
  const m = /^(?:summary|totals):\s+(\d+)/m.exec(text);
  return m?.[1] !== undefined ? Number(m[1]) : undefined;
}

/** Callgrind control of one server process (pid = the valgrind process = the server). */
export class CallgrindSession {
  constructor(
    private readonly pid: number,
    private readonly dir: string,
    private readonly label: string,
  ) {}

  /** Instrumentation on and counters zeroed: counting starts here. */
  async start(): Promise<void> {
    await control(['-i', 'on', String(this.pid)]);
    await control(['-z', String(this.pid)]);
  }

  /** Dumps and returns the instructions since start(). */
  async stop(): Promise<number> {
    const before = new Set(this.dumps());
    await control(['-d', String(this.pid)]);
    await control(['-i', 'off', String(this.pid)]);
    const fresh = this.dumps().filter((f) => !before.has(f));
    const part = (f: string): number => Number(f.slice(f.lastIndexOf('.') + 1));
    const file = fresh.sort((a, b) => part(a) - part(b)).pop();
    if (!file) throw new Error(`callgrind wrote no dump for pid ${this.pid} in ${this.dir}`);
    const ir = parseCallgrindSummary(readFileSync(join(this.dir, file), 'utf8'));
    if (ir === undefined) throw new Error(`no summary line in callgrind dump ${file}`);
    return ir;
  }

  private dumps(): string[] {
    const prefix = `${this.label}.${this.pid}.out.`;
    return readdirSync(this.dir).filter((f) => f.startsWith(prefix));
  }
}
