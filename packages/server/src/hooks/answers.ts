/**
 * The answers each hook may give (DESIGN.md §7, FIXED), as zod schemas. An
 * answer outside them is a failure of the call (`bad_answer`): the client
 * gets a refusal (connect: 1013; others: error `unavailable`), never a
 * guess. Identifiers follow the same rules as the JWT claims they stand for.
 */
import { z } from 'zod';
import { ILL_FORMED, isWellFormedId } from '../protocol/identifiers.js';

/** `sub`/`tid` rules of auth/jwtVerifier.ts: 1-128 characters, no control characters, well-formed UTF-16. */
const identifier = z
  .string()
  .regex(/^\P{Cc}{1,128}$/u, 'must be 1-128 characters without control characters')
  .refine(isWellFormedId, ILL_FORMED);

const reason = z.string().max(1024);

/** Unix seconds; a value past year 5000 is almost surely milliseconds and is refused rather than never expiring. */
const unixSeconds = z.number().int().positive().max(95_617_584_000, 'must be unix seconds (not milliseconds)');

/** Connect: `{"user","tenant"?,"rooms"?,"expires_at"?}` accepts; `{"reject":{"code":4001|4003,"reason"}}` refuses. */
export const connectAnswer = z
  .object({
    reject: z.object({ code: z.literal([4001, 4003]), reason: reason.optional() }).optional(),
    user: identifier.optional(),
    tenant: identifier.optional(),
    rooms: z.array(identifier).max(1_000).optional(),
    expires_at: unixSeconds.optional(),
  })
  .refine((a) => a.reject !== undefined || a.user !== undefined, 'expected "user" (accept) or "reject"');
export type ConnectAnswer = z.output<typeof connectAnswer>;

/** Join: `{"allow":true}` or `{"allow":false,"reason"}`. */
export const joinAnswer = z.object({ allow: z.boolean(), reason: reason.optional() });
export type JoinAnswer = z.output<typeof joinAnswer>;

/** Publish: `{"allow":true,"data"?}` (members get `data` when given) or `{"allow":false,"reason"}`. */
export const publishAnswer = z.object({ allow: z.boolean(), data: z.unknown().optional(), reason: reason.optional() });
export type PublishAnswer = z.output<typeof publishAnswer>;

/** RPC: `{"data"}` replies; `{"error":{"code","message"}}` becomes an error frame. */
export const rpcAnswer = z
  .object({
    data: z.unknown().optional(),
    error: z
      .object({
        code: z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'must be 1-64 of [A-Za-z0-9_.:-]'),
        message: z.string().max(1024),
      })
      .optional(),
  })
  .refine((a) => a.error !== undefined || 'data' in a, 'expected "data" or "error"');
export type RpcAnswer = z.output<typeof rpcAnswer>;
