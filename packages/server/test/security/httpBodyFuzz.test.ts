/**
 * Fuzzing the HTTP body path (issue 13, item 2): random bytes, random JSON and
 * deep nesting must only ever produce the documented errors — never a crash,
 * a 500, or an exception other than ApiError.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import fc from 'fast-check';
import { readJson } from '../../src/api/http.js';
import { ApiError } from '../../src/errors.js';
import { api, nodeFactory } from '../helpers/harness.js';

const node = nodeFactory();

/** A request body as node:http would deliver it: chunks plus headers. */
function fakeRequest(body: Buffer, chunk: number, headers: Record<string, string> = {}): IncomingMessage {
  const parts: Buffer[] = [];
  for (let i = 0; i < body.length; i += chunk) parts.push(body.subarray(i, i + chunk));
  const r = Readable.from(parts) as unknown as IncomingMessage;
  (r as { headers: Record<string, string> }).headers = { 'content-type': 'application/json', ...headers };
  return r;
}

const READ_CODES = new Set(['bad_json', 'payload_too_large', 'unsupported_media_type']);

/** Text of `k` nested arrays/objects, optionally unbalanced or with strings holding brackets. */
const nestedUpTo = (max: number): fc.Arbitrary<string> => fc.record({ k: fc.integer({ min: 1, max }), obj: fc.boolean(), cut: fc.nat({ max: 10 }), str: fc.boolean() }).map(({ k, obj, cut, str }) => {
  const open = obj ? '{"a":' : '[';
  const close = obj ? '}' : ']';
  const inner = str ? '"[[[{{{\\"]]"' : '1';
  return open.repeat(k) + inner + close.repeat(Math.max(0, k - cut));
});
/** Up to 20,000 levels: deep enough to overflow recursive code after the parser (the 5,000 of the report did). */
const nested = fc.oneof(nestedUpTo(40), nestedUpTo(20_000));

const bodies = fc.oneof(
  fc.uint8Array({ maxLength: 2048 }).map((b) => Buffer.from(b)),
  fc.string({ maxLength: 512 }).map((s) => Buffer.from(s)),
  fc.jsonValue({ maxDepth: 40 }).map((v) => Buffer.from(JSON.stringify(v) ?? 'null')),
  nested.map((s) => Buffer.from(s)),
);

test('readJson: any body yields a value or a ApiError with a documented code', async () => {
  await fc.assert(
    fc.asyncProperty(bodies, fc.integer({ min: 1, max: 700 }), fc.integer({ min: 2, max: 40 }), async (body, chunk, depth) => {
      try {
        const v = await readJson(fakeRequest(body, chunk), 64 * 1024, depth);
        // Whatever is returned can be walked by the recursive code after it.
        JSON.stringify(v);
      } catch (err) {
        assert.ok(err instanceof ApiError, `not a ApiError: ${String(err)}`);
        assert.ok(READ_CODES.has(err.code), err.code);
      }
    }),
    { numRuns: 600 },
  );
});

test('the real server: fuzzed bodies to publish, batch and disconnect never answer 500 and the node keeps serving', async () => {
  const n = await node({ apiPublishRatePerTenant: 0 });
  const documented = new Set(['bad_json', 'invalid_field', 'payload_too_large', 'unsupported_media_type', 'rate_limited']);
  const publishLike = fc.oneof(
    bodies.map((b) => b.toString('latin1')),
    fc.record({ to: fc.oneof(fc.record({ user: fc.string({ maxLength: 8 }) }), fc.record({ room: fc.string({ maxLength: 8 }) }), fc.jsonValue({ maxDepth: 3 })), data: fc.oneof(fc.jsonValue({ maxDepth: 40 }), nestedUpTo(2000).map((s) => JSON.parse(balanced(s)) as unknown)) }).map((o) => JSON.stringify(o)),
    nested.map((s) => `{"to":{"user":"u"},"data":${s}}`),
  );
  await fc.assert(
    fc.asyncProperty(fc.constantFrom('/api/v1/publish', '/api/v1/publish/batch', '/api/v1/disconnect'), publishLike, async (path, body) => {
      const r = await api(n, 'POST', path, path.endsWith('batch') && body.startsWith('{"to"') ? `{"messages":[${body}]}` : body);
      assert.ok(r.status < 500, `${path} answered ${r.status}: ${JSON.stringify(r.body)}`);
      if (r.status >= 400) assert.ok(documented.has((r.body.error as { code: string }).code), JSON.stringify(r.body));
      if (r.status === 200 && path.endsWith('batch')) {
        for (const item of r.body.results as { ok: boolean; error?: { code: string } }[]) if (!item.ok) assert.ok(documented.has(item.error!.code), JSON.stringify(item));
      }
    }),
    { numRuns: 250 },
  );
  assert.equal((await api(n, 'GET', '/healthz')).status, 200);
});

/** Closes whatever brackets `s` left open, so it parses (the data value of a well-formed body). */
function balanced(s: string): string {
  const stack: string[] = [];
  let inString = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '[') stack.push(']');
    else if (c === '{') stack.push('}');
    else if (c === ']' || c === '}') stack.pop();
  }
  return s + stack.reverse().join('');
}
