/**
 * One HTTP request in progress (an Exchange) and the requests a node has in progress (Requests):
 * its count and log line once answered, its error reply, and the drain's wait for the requests
 * begun before it (node.ts). A request that ends is one call on its Exchange (`done`, `fail`), so a
 * route that answers from a body listener (the publish, api/router.ts) needs no promise, no
 * `.then`/`.catch`/`.finally` reaction and no in-flight Set entry per request (allocation per
 * request, issue 20).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { Stats } from '../observability/stats.js';
import { sendError, sendJsonText, type BodySink } from './http.js';
import { httpKey } from './routing.js';

/** The requests begun between two drains' calls: how many are still open, and the drain waiting for none. */
interface Cohort {
  open: number;
  settled: (() => void) | undefined;
}

export class Exchange implements BodySink {
  /** The route's name (metric label and log line); 'unknown' until one matched. */
  name = 'unknown';
  /** The request's path (never its query: it may hold a token). */
  path = '';
  /** What the body, once read and parsed (readJsonTo), goes to. */
  onBody: ((x: Exchange, body: unknown) => void) | undefined = undefined;
  private ended = false;

  constructor(
    private readonly requests: Requests,
    private readonly cohort: Cohort,
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly reqId: string,
    readonly started: number,
  ) {}

  /** The request is answered: its count and log line; no effect after the first `done` or `fail`. Never throws. */
  done(): void {
    if (this.ended) return;
    this.ended = true;
    try {
      this.requests.finish(this);
    } catch (err) {
      this.requests.lastResort(this, err);
    } finally {
      const c = this.cohort;
      if (--c.open === 0 && c.settled !== undefined) c.settled();
    }
  }

  /** The request failed: one JSON error reply (500 for the unexpected; the socket destroyed when the reply had begun), then `done`. Never throws. */
  fail(err: unknown): void {
    if (this.ended) return;
    try {
      const e = err instanceof ApiError ? err : this.requests.internal(err, this.reqId);
      if (!this.res.headersSent) sendError(this.res, e);
      else this.res.destroy();
    } catch {
      this.res.destroy();
    }
    this.done();
  }

  /** Answers 200 with a JSON text, then `done` (a failure to write it is `fail`'s). */
  json(text: string): void {
    try {
      sendJsonText(this.res, 200, text);
    } catch (err) {
      this.fail(err);
      return;
    }
    this.done();
  }

  bodyRead(body: unknown): void {
    this.onBody!(this, body);
  }

  bodyFailed(err: unknown): void {
    this.fail(err);
  }
}

export class Requests {
  private cohort: Cohort = { open: 0, settled: undefined };

  constructor(
    private readonly stats: Stats,
    private readonly log: Logger,
  ) {}

  /** A request begins: counted open until its Exchange's `done`. */
  begin(req: IncomingMessage, res: ServerResponse, reqId: string): Exchange {
    const c = this.cohort;
    c.open++;
    return new Exchange(this, c, req, res, reqId, performance.now());
  }

  /** Requests begun since the last `settled()` call (or since the start) and not answered yet. */
  get open(): number {
    return this.cohort.open;
  }

  /**
   * Resolves once every request begun before this call is answered or failed — the drain's wait
   * (node.ts); requests begun after it are not waited for. A request that never ends (a client that
   * never sends its body) keeps it pending: the caller bounds the wait.
   */
  settled(): Promise<void> {
    const c = this.cohort;
    this.cohort = { open: 0, settled: undefined };
    if (c.open === 0) return Promise.resolve();
    return new Promise((resolve) => (c.settled = resolve));
  }

  /** The request's count and log line, once it is answered (or failed). */
  finish(x: Exchange): void {
    const status = x.res.statusCode;
    this.stats.bump(this.stats.http, httpKey(x.name, status));
    // Path only: a query string may hold a token. Bodies are never logged. The line is built
    // only when its level is logged (a 2xx is debug: off by default).
    const level = status >= 500 ? 'error' : status >= 400 ? 'info' : 'debug';
    const log = this.log;
    if (log.isLevelEnabled(level)) log[level]({ req: x.reqId, method: x.req.method, path: x.path, route: x.name, status, ms: Math.round((performance.now() - x.started) * 10) / 10 }, 'request');
  }

  /** An unexpected error: logged, answered 500 (a malformed percent-encoding in a path is a 400). */
  internal(err: unknown, reqId?: string): ApiError {
    if (err instanceof URIError) return new ApiError('invalid_field', 'path is not valid percent-encoding', 'path');
    this.log.error({ err, req: reqId }, 'request failed');
    return new ApiError('internal');
  }

  /** What counting or logging a request threw: logged; the request is not answered twice. */
  lastResort(x: Exchange, err: unknown): void {
    try {
      this.log.error({ err, req: x.reqId }, 'request handler failed');
      if (!x.res.headersSent) sendError(x.res, new ApiError('internal'));
      else x.res.destroy();
    } catch {
      x.res.destroy();
    }
  }
}
