/** Small HTTP helpers: JSON replies, bounded body reading. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { ApiError } from '../errors.js';
import { answerAndDestroy } from './socketGuard.js';
import { DEFAULT_MAX_JSON_DEPTH, jsonTextDepthExceeds } from '../protocol/jsonDepth.js';

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', ...headers });
  res.end(text);
}

export function sendError(res: ServerResponse, err: ApiError): void {
  sendJson(res, err.status, err.toJSON(), err.retryAfterSec !== undefined ? { 'retry-after': String(err.retryAfterSec) } : {});
}

/**
 * Reads a JSON body of at most `limit` bytes; 413 beyond, 400 `bad_json` when not
 * JSON or nested deeper than `maxDepth` (checked on the text before parsing, so
 * nothing downstream — zod, JSON.stringify — can recurse into a stack overflow).
 * Throws nothing but ApiError.
 */
export async function readJson(req: IncomingMessage, limit: number, maxDepth = DEFAULT_MAX_JSON_DEPTH): Promise<unknown> {
  const type = req.headers['content-type'];
  if (type !== undefined && !/^application\/(.+\+)?json\b/i.test(type)) throw new ApiError('unsupported_media_type');
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > limit) throw new ApiError('payload_too_large', `request body of ${declared} bytes is over the limit of ${limit}`);
  const text = await readBody(req, limit);
  if (text.trim() === '') throw new ApiError('bad_json', 'request body is empty; expected a JSON object');
  if (jsonTextDepthExceeds(text, maxDepth)) throw new ApiError('bad_json', `request body nests arrays/objects deeper than ${maxDepth} levels (maxJsonDepth)`, 'body');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ApiError('bad_json', `request body is not valid JSON: ${(err as Error).message}`);
  }
}

/** Answers an upgrade request that will not become a WebSocket with a JSON error, then closes. */
export function rejectUpgrade(socket: Duplex, status: number, reason: string, code: string, message: string): void {
  const body = JSON.stringify({ error: { code, message } });
  // Destroyed once flushed: the server allows half-open sockets, so end() alone could leave it held.
  answerAndDestroy(socket, `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}

/** Reads a body of at most `limit` bytes with plain events (cheaper than an async iterator per request). */
function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        req.off('data', onData);
        req.resume(); // drain the rest so the 413 can be written on a clean connection
        reject(new ApiError('payload_too_large', `request body is over the limit of ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve(chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8')));
    // A connection reset mid-body is the client's doing: answer (if still possible) 400, never 500.
    req.once('error', (err) => reject(new ApiError('bad_json', `request body not received: ${err.message}`)));
  });
}
