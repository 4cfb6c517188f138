/**
 * The HTTP publisher: POST /api/v1/publish with keep-alive connections and a
 * bounded number of requests in flight. Every target exposes the same
 * endpoint and body, so this code path is identical across targets. The
 * timestamp is taken immediately before the request is written, so latency
 * covers HTTP parsing, routing, fan-out and the client's receipt.
 */
import { Agent, request } from 'node:http';
import { nowUs } from './clock.js';
import type { BenchPayload } from './targets/types.js';

export type PublishTo = { room: string } | { user: string };

export interface PublishResult {
  ok: boolean;
  /** Error kind when !ok: http_<status> or request_<code>. */
  error?: string;
}

export class Publisher {
  private readonly agent: Agent;
  private readonly url: URL;
  private readonly auth: string;
  private readonly padding: string;
  inFlight = 0;

  constructor(
    httpBase: string,
    apiKey: string,
    readonly maxInFlight: number,
    payloadBytes: number,
    private readonly extra: Record<string, unknown> = {},
  ) {
    this.url = new URL('/api/v1/publish', httpBase);
    this.auth = `Bearer ${apiKey}`;
    this.agent = new Agent({ keepAlive: true, maxSockets: maxInFlight, maxFreeSockets: maxInFlight });
    // {"t":1234567890123,"k":123456,"r":0,"p":""} is ~45 bytes; pad the rest.
    this.padding = 'x'.repeat(Math.max(0, payloadBytes - 45));
  }

  get canSend(): boolean {
    return this.inFlight < this.maxInFlight;
  }

  /** Keep-alive sockets the server closed just as we reused them (retried once, see below). */
  staleRetries = 0;

  async publish(to: PublishTo, k: number, r: number): Promise<PublishResult> {
    // A keep-alive socket can be closed by the server's idle timeout at the
    // moment we reuse it; the request never reached the server, so Node's
    // documented remedy is a retry (re-stamped: the latency clock starts when
    // the server can first see the message). The retry may pick another idle
    // socket the server closed too (a slow server, e.g. under valgrind, lets
    // several expire at once), so retry while the failure is on a reused
    // socket, at most once per socket the agent can hold.
    let result = await this.attempt(to, k, r);
    for (let i = 0; result.staleSocket && i <= this.maxInFlight; i++) {
      this.staleRetries++;
      result = await this.attempt(to, k, r);
    }
    return result;
  }

  private attempt(to: PublishTo, k: number, r: number): Promise<PublishResult & { staleSocket?: boolean }> {
    const data: BenchPayload = { t: nowUs(), k, r };
    if (this.padding.length > 0) data.p = this.padding;
    const body = JSON.stringify({ to, data, ...this.extra });
    this.inFlight++;
    return new Promise<PublishResult & { staleSocket?: boolean }>((resolve) => {
      let settled = false;
      const done = (r: PublishResult & { staleSocket?: boolean }): void => {
        if (settled) return;
        settled = true;
        this.inFlight--;
        resolve(r);
      };
      const req = request(
        this.url,
        {
          method: 'POST',
          agent: this.agent,
          headers: { authorization: this.auth, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          res.resume();
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            done(status >= 200 && status < 300 ? { ok: true } : { ok: false, error: `publish_http_${status}` });
          });
          res.on('error', (e: NodeJS.ErrnoException) => done({ ok: false, error: `publish_${e.code ?? 'error'}` }));
        },
      );
      req.on('error', (e: NodeJS.ErrnoException) => {
        const stale = req.reusedSocket && e.code === 'ECONNRESET';
        done(stale ? { ok: false, error: 'publish_ECONNRESET', staleSocket: true } : { ok: false, error: `publish_${e.code ?? 'error'}` });
      });
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
