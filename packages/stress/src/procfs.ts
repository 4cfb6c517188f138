/**
 * Linux /proc readings for the nodes under test (RSS, open files, a workers
 * node's processes) and the exit hook that SIGKILLs a workers node's whole
 * process group when the runner goes away.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** VmRSS of one process, bytes; 0 when it is gone. */
export function processRss(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Open file descriptors of one process (/proc/<pid>/fd); 0 when it is gone. */
export function openFds(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return 0;
  }
}

/** Running (a zombie awaiting a reaper counts as gone: it holds no memory, files or sockets). */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** `pid` and its descendants (/proc/<pid>/task/<tid>/children): a workers node's primary and workers. */
export function groupPids(pid: number): number[] {
  const out: number[] = [];
  const visit = (p: number, depth: number): void => {
    out.push(p);
    if (depth > 3) return;
    for (const t of tasks(p)) for (const k of children(p, t)) visit(k, depth + 1);
  };
  visit(pid, 0);
  return out;
}

function tasks(pid: number): string[] {
  try {
    return readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
}

function children(pid: number, tid: string): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

const groups = new Set<number>();
let hooked = false;

/**
 * SIGKILLs process group `pgid` when this process exits (normal end, an
 * exception, or the testkit's SIGINT/SIGTERM handler, which exits): the
 * testkit's tracker kills a workers node's primary only.
 */
export function killGroupOnExit(pgid: number): void {
  groups.add(pgid);
  if (hooked) return;
  hooked = true;
  process.once('exit', () => {
    for (const g of groups) {
      try {
        process.kill(-g, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

/** The group is known to be gone (its leader was waited for and its members are gone). */
export function forgetGroup(pgid: number): void {
  groups.delete(pgid);
}
