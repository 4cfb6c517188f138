/** Small HTTP helpers: JSON replies, bounded body reading. */
// Buffer from its module: the global `Buffer` is an accessor (a getter call per use) in Node 20.
import { Buffer } from 'node:buffer';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { ApiError } from '../errors.js';
import { answerAndDestroy } from './socketGuard.js';
import { DEFAULT_MAX_JSON_DEPTH, jsonTextDepthExceeds } from '../protocol/jsonDepth.js';

/**
 * Where the router leaves a request id that is not set as a header yet: sendJson writes it in the
 * same `writeHead` as its own headers. A header set beforehand with setHeader would send writeHead
 * down Node's progressive path (setHeader — validate and lower-case — for every other header);
 * handlers that write their own replies get it by setHeader instead (router.ts).
 */
export const PENDING_REQUEST_ID = Symbol('herald.pendingRequestId');
type WithRequestId = ServerResponse & { [PENDING_REQUEST_ID]?: string };

export function sendJson(res: ServerResponse, status: number, body: unknown, headers?: Record<string, string>): void {
  sendJsonText(res, status, JSON.stringify(body), headers);
}

/** sendJson for a body already serialized. */
export function sendJsonText(res: ServerResponse, status: number, text: string, headers?: Record<string, string>): void {
  const reqId = (res as WithRequestId)[PENDING_REQUEST_ID];
  if (headers === undefined && reqId !== undefined) {
    // One flat list, as writeHead takes raw headers: no object to walk, no setHeader per header.
    // The same list each time: writeHead reads it into the header text before it returns and keeps
    // nothing of it (Node's _storeHeader), so no array per reply (allocation per request, issue 20).
    REPLY_HEADERS[1] = reqId;
    REPLY_HEADERS[5] = Buffer.byteLength(text);
    res.writeHead(status, REPLY_HEADERS);
    REPLY_HEADERS[1] = '';
  } else {
    const all: Record<string, string | number> = reqId !== undefined ? { 'x-request-id': reqId } : {};
    all['content-type'] = JSON_TYPE;
    all['content-length'] = Buffer.byteLength(text);
    all['cache-control'] = 'no-store';
    if (headers !== undefined) for (const k in headers) all[k] = headers[k]!;
    res.writeHead(status, all);
  }
  res.end(text);
}
const JSON_TYPE = 'application/json; charset=utf-8';
const REPLY_HEADERS: [string, string, string, string, string, number, string, string] = ['x-request-id', '', 'content-type', JSON_TYPE, 'content-length', 0, 'cache-control', 'no-store'];

export function sendError(res: ServerResponse, err: ApiError): void {
  sendJson(res, err.status, err.toJSON(), err.retryAfterSec !== undefined ? { 'retry-after': String(err.retryAfterSec) } : undefined);
}

/**
 * Reads a JSON body of at most `limit` bytes; 413 beyond, 400 `bad_json` when not
 * JSON or nested deeper than `maxDepth` (checked on the text before parsing, so
 * nothing downstream — zod, JSON.stringify — can recurse into a stack overflow).
 * Throws nothing but ApiError.
 */
export function readJson(req: IncomingMessage, limit: number, maxDepth = DEFAULT_MAX_JSON_DEPTH): Promise<unknown> {
  return new Promise((resolve, reject) => readJsonTo(req, limit, maxDepth, new PromiseSink(resolve, reject)));
}

/** Where readJsonTo hands the body: exactly one of the two is called, once. */
export interface BodySink {
  /** The parsed body. What it throws goes to `bodyFailed`. */
  bodyRead(body: unknown): void;
  /** An ApiError from the read or parse; anything `bodyRead` threw. */
  bodyFailed(err: unknown): void;
}

/**
 * readJson without a promise: the same checks and errors, the outcome handed to `sink` (from a
 * body listener, or before it returns for a refused media type or declared length). The publish
 * route answers from there (api/exchange.ts: no promise per request, issue 20).
 */
export function readJsonTo(req: IncomingMessage, limit: number, maxDepth: number, sink: BodySink): void {
  const type = req.headers['content-type'];
  if (type !== undefined && type !== 'application/json' && !JSON_MEDIA_TYPE.test(type)) return sink.bodyFailed(new ApiError('unsupported_media_type'));
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > limit) return sink.bodyFailed(new ApiError('payload_too_large', `request body of ${declared} bytes is over the limit of ${limit}`));
  readBody(req, limit, maxDepth, sink);
}

/** readJson's sink: settles its promise. */
class PromiseSink implements BodySink {
  constructor(
    private readonly resolve: (body: unknown) => void,
    private readonly reject: (err: unknown) => void,
  ) {}

  bodyRead(body: unknown): void {
    this.resolve(body);
  }

  bodyFailed(err: unknown): void {
    this.reject(err);
  }
}

const JSON_MEDIA_TYPE = /^application\/(.+\+)?json\b/i;

/** The body's JSON value; throws ApiError `bad_json`. */
function parseBody(text: string, maxDepth: number): unknown {
  // The depth scan comes first (nothing may recurse into a deep value later); an empty body is
  // told apart from bad JSON only when the parse fails.
  if (jsonTextDepthExceeds(text, maxDepth)) throw new ApiError('bad_json', `request body nests arrays/objects deeper than ${maxDepth} levels (maxJsonDepth)`, 'body');
  try {
    return JSON.parse(text);
  } catch (err) {
    if (text.trim() === '') throw new ApiError('bad_json', 'request body is empty; expected a JSON object');
    throw new ApiError('bad_json', `request body is not valid JSON: ${(err as Error).message}`);
  }
}

/** Answers an upgrade request that will not become a WebSocket with a JSON error, then closes. */
export function rejectUpgrade(socket: Duplex, status: number, reason: string, code: string, message: string): void {
  const body = JSON.stringify({ error: { code, message } });
  // Destroyed once flushed: the server allows half-open sockets, so end() alone could leave it held.
  answerAndDestroy(socket, `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}

/** What one body read holds (on the request itself: the listeners are shared functions, not closures per request). */
interface BodyRead {
  limit: number;
  maxDepth: number;
  size: number;
  /** A body of one chunk (most publishes) is held without an array. */
  first: Buffer | undefined;
  chunks: Buffer[] | undefined;
  /** Set once the sink was called: a later event (an error after the end, the end after a 413) is ignored. */
  over: boolean;
  sink: BodySink;
}
const BODY = Symbol('herald.body');
type Reading = IncomingMessage & { [BODY]?: BodyRead };

/**
 * Reads and parses a body of at most `limit` bytes with plain events (cheaper than an async
 * iterator per request); the three listeners are module functions reading the request's
 * BodyRead, not three closures per request (allocation per request, issue 20).
 */
function readBody(req: IncomingMessage, limit: number, maxDepth: number, sink: BodySink): void {
  (req as Reading)[BODY] = { limit, maxDepth, size: 0, first: undefined, chunks: undefined, over: false, sink };
  req.on('data', onBodyData);
  // `on`, not `once`: the request ends once, and a sink already called ignores a later event (no wrapper per listener).
  req.on('end', onBodyEnd);
  // A connection reset mid-body is the client's doing: answer (if still possible) 400, never 500.
  req.on('error', onBodyError);
}

function onBodyData(this: Reading, chunk: Buffer): void {
  const b = this[BODY]!;
  b.size += chunk.length;
  if (b.size > b.limit) {
    this.off('data', onBodyData);
    this.resume(); // drain the rest so the 413 can be written on a clean connection
    if (!b.over) {
      b.over = true;
      b.sink.bodyFailed(new ApiError('payload_too_large', `request body is over the limit of ${b.limit} bytes`));
    }
    return;
  }
  if (b.first === undefined) b.first = chunk;
  else (b.chunks ??= [b.first]).push(chunk);
}

function onBodyEnd(this: Reading): void {
  const b = this[BODY]!;
  if (b.over) return; // refused above
  b.over = true;
  let body: unknown;
  try {
    body = parseBody(b.chunks !== undefined ? Buffer.concat(b.chunks).toString('utf8') : b.first !== undefined ? b.first.toString('utf8') : '', b.maxDepth);
  } catch (err) {
    b.sink.bodyFailed(err);
    return;
  }
  try {
    b.sink.bodyRead(body);
  } catch (err) {
    // What the sink throws fails the request, as a throw in a `.then` reaction rejected it.
    b.sink.bodyFailed(err);
  }
}

function onBodyError(this: Reading, err: Error): void {
  const b = this[BODY]!;
  if (b.over) return;
  b.over = true;
  b.sink.bodyFailed(new ApiError('bad_json', `request body not received: ${err.message}`));
}
