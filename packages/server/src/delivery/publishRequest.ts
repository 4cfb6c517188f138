/**
 * The publish body (DESIGN.md §1), validated by one schema for the HTTP API,
 * batch items and stream ingest. Errors name the offending field.
 */
import { z } from 'zod';
import { DEFAULT_TENANT, DEVICE_ID_PATTERN, PLATFORMS, ROOM_NAME_PATTERN, isBase64 } from '@herald/protocol';
import { ApiError } from '../errors.js';
import type { Route } from '../engine/types.js';
import { ILL_FORMED, isWellFormedId } from '../protocol/identifiers.js';

/** Identifiers reach storage keys: no control characters and no lone surrogates (protocol/identifiers.ts). */
const id = z.string().min(1).max(128).regex(/^\P{Cc}+$/u, 'no control characters').refine(isWellFormedId, ILL_FORMED);
const tenant = id.optional();

/** Only sessions (and reliable deliveries to devices) of this platform. */
const platform = z.enum(PLATFORMS, { error: `must be one of ${PLATFORMS.join(', ')}` }).optional();

const targetSchema = z.union([
  z.strictObject({ user: id, device: z.string().regex(DEVICE_ID_PATTERN, '1-64 of [A-Za-z0-9._:-]'), tenant }),
  z.strictObject({ user: id, tenant, platform }),
  z.strictObject({ users: z.array(id).min(1).max(1000), tenant, platform }),
  z.strictObject({ room: z.string().regex(ROOM_NAME_PATTERN, '1-128 of [A-Za-z0-9._:@/-]'), tenant, platform }),
  z.strictObject({ tenant: id, platform }),
  z.strictObject({ all: z.literal(true), platform }),
]);

export const publishSchema = z.strictObject({
  to: targetSchema,
  /** JSON data; or `data_b64` (bytes as standard base64) instead: exactly one of the two (checked in parsePublish). */
  data: z.unknown().optional(),
  data_b64: z.string().refine(isBase64, 'must be standard base64 (A-Z a-z 0-9 + /, optional = padding, no whitespace)').optional(),
  event: z.string().min(1).max(128).refine(isWellFormedId, ILL_FORMED).optional(),
  reliable: z.boolean().optional(),
  ttl: z.number().int().positive().max(365 * 86_400).optional(),
  idempotency_key: z.string().min(1).max(256).refine(isWellFormedId, ILL_FORMED).optional(),
  /** Seconds: no device of the user acked the message by then → one `unacked` webhook event (docs/events.md). */
  notify_unacked_after: z.number().int().positive().max(365 * 86_400).optional(),
});

export type PublishBody = z.output<typeof publishSchema>;

/** Resolved target: one or more routes, and whether it is a user target. */
export interface ResolvedTarget {
  kind: 'user' | 'device' | 'users' | 'room' | 'tenant' | 'all';
  routes: Route[];
}

export function resolveTarget(to: PublishBody['to']): ResolvedTarget {
  // Built field by field (no spread of a `{platform}` object per publish); `platform` only when given.
  const platform = 'platform' in to ? to.platform : undefined;
  if ('all' in to) return { kind: 'all', routes: [withPlatform({ kind: 'all' }, platform)] };
  const t = to.tenant ?? DEFAULT_TENANT;
  if ('users' in to) return { kind: 'users', routes: [...new Set(to.users)].map((user) => withPlatform({ kind: 'user', tenant: t, user }, platform)) };
  if ('user' in to) {
    if ('device' in to) return { kind: 'device', routes: [{ kind: 'user', tenant: t, user: to.user, device: to.device }] };
    return { kind: 'user', routes: [withPlatform({ kind: 'user', tenant: t, user: to.user }, platform)] };
  }
  if ('room' in to) return { kind: 'room', routes: [withPlatform({ kind: 'room', tenant: t, room: to.room }, platform)] };
  return { kind: 'tenant', routes: [withPlatform({ kind: 'tenant', tenant: t }, platform)] };
}

function withPlatform<R extends Route>(route: R, platform: Route['platform']): R {
  if (platform !== undefined) route.platform = platform;
  return route;
}

/** Validates an unknown body; throws ApiError 400 naming the first bad field. */
export function parsePublish(body: unknown, prefix = ''): PublishBody {
  const plain = plainPublish(body);
  if (plain !== undefined) return plain;
  const r = publishSchema.safeParse(body);
  if (r.success) {
    const hasData = r.data.data !== undefined;
    if (hasData === (r.data.data_b64 !== undefined)) {
      const field = prefix + (hasData ? 'data_b64' : 'data');
      throw new ApiError('invalid_field', `${field}: ${hasData ? 'give data or data_b64, not both' : 'is required (or data_b64)'}`, field);
    }
    return r.data;
  }
  const issue = pickIssue(r.error.issues);
  const path = issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0]!] : issue.path;
  const field = prefix + (path.length ? path.join('.') : 'body');
  const message = issue.code === 'unrecognized_keys' ? 'unknown field' : issue.message;
  throw new ApiError('invalid_field', `${field}: ${message}`, field);
}

/** For a union failure, report the deepest, most specific issue. */
function pickIssue(issues: z.core.$ZodIssue[]): z.core.$ZodIssue {
  const first = issues[0]!;
  if (first.code === 'invalid_union' && first.errors.length > 0) {
    // Deepest first; on a tie, the issue of the branch that fits best (fewest issues), so that
    // {user, tenant: <bad>} reports `to.tenant`, not the `device` of the {user, device} branch.
    const candidates = first.errors.flatMap((branch) => branch.filter((i) => i.code !== 'unrecognized_keys').map((issue) => ({ issue, fit: branch.length })));
    const best = candidates.sort((a, b) => b.issue.path.length - a.issue.path.length || a.fit - b.fit)[0]?.issue;
    if (best) return { ...best, path: [...first.path, ...best.path] };
    return { ...first, message: 'must be one of {user}, {user,device}, {users}, {room}, {tenant}, {all:true}' };
  }
  return first;
}

// No control character (Cc: U+0000–U+001F, U+007F–U+009F), as the schema's /^\P{Cc}+$/u: surrogates
// (paired or not) are no Cc either way. A loop, not a regex: for ids of a few characters the call
// into the RegExp builtins cost more than the loop (issue 20).
function noControl(v: string): boolean {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c <= 0x1f || (c >= 0x7f && c <= 0x9f)) return false;
  }
  return true;
}
const validId = (v: unknown): v is string => typeof v === 'string' && v.length >= 1 && v.length <= 128 && noControl(v) && isWellFormedId(v);
const PLAIN_KEYS = new Set(['to', 'data', 'event', 'reliable']);
const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype;

/**
 * The common body — `{to: {user|room, tenant?}, data, event?, reliable?}`, every field valid —
 * checked without the schema, which cost more than the rest of the publish's JavaScript (issue
 * 20's profile). It returns what the schema would (its branch's fields, in its order) or
 * undefined for anything else, which then goes through the schema as before: any other field,
 * any invalid value and every error message stay the schema's.
 */
function plainPublish(body: unknown): PublishBody | undefined {
  if (!isPlainObject(body) || body.data === undefined) return undefined;
  for (const k in body) if (!PLAIN_KEYS.has(k)) return undefined;
  const { to, event, reliable } = body;
  if (!isPlainObject(to) || (reliable !== undefined && typeof reliable !== 'boolean') || (event !== undefined && !validId(event))) return undefined;
  let target: PublishBody['to'];
  const tenant = to.tenant;
  if (tenant !== undefined && !validId(tenant)) return undefined;
  let n = tenant === undefined ? 1 : 2;
  if (to.user !== undefined) {
    if (!validId(to.user)) return undefined;
    target = tenant === undefined ? { user: to.user } : { user: to.user, tenant };
  } else if (to.room !== undefined) {
    if (typeof to.room !== 'string' || !ROOM_NAME_PATTERN.test(to.room)) return undefined;
    target = tenant === undefined ? { room: to.room } : { room: to.room, tenant };
  } else return undefined;
  for (const k in to) if (--n < 0 || (k !== 'tenant' && k !== 'user' && k !== 'room')) return undefined;
  if (n !== 0) return undefined;
  const out: PublishBody = { to: target, data: body.data };
  if (event !== undefined) out.event = event as string;
  if (reliable !== undefined) out.reliable = reliable;
  return out;
}
