/* global AbortSignal */
// Container health check (Dockerfile HEALTHCHECK): exit 0 when GET /healthz answers 200.
// node:20-slim has no curl; this needs nothing but node. The port is HERALD_PORT when it is a
// number (a Kubernetes service link may have set it to tcp://…, which Herald ignores too).
const raw = process.env.HERALD_PORT ?? '';
const port = /^\d+$/.test(raw) ? raw : '8080';
try {
  const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2500) });
  process.exit(res.ok ? 0 : 1);
} catch {
  process.exit(1);
}
