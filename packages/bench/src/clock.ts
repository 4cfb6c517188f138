/**
 * Shared clock for publish→deliver latency. process.hrtime() reads
 * CLOCK_MONOTONIC, which is system-wide on Linux, so a timestamp taken in the
 * publisher process can be subtracted from one taken in a client process on
 * the same machine. Microseconds fit exactly in a double for centuries of uptime.
 */
export function nowUs(): number {
  const [s, ns] = process.hrtime();
  return s * 1e6 + Math.floor(ns / 1e3);
}

export function nowMs(): number {
  const [s, ns] = process.hrtime();
  return s * 1e3 + ns / 1e6;
}
