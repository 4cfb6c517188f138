/**
 * The object-valued config keys: `eventRateLimits` and `tenantOverrides`.
 * Every other key is a scalar or a comma list; these hold tables, so in the
 * environment and on the command line they are given as one JSON string
 * (HERALD_EVENT_RATE_LIMITS='{"marketing.*":{"perSec":100,"burst":200}}').
 * Tables are strict: an unknown key or a negative rate is refused with its
 * path named (load.ts renders the path).
 */
import { z } from 'zod';

/** A string from the environment or a flag is parsed as JSON; a file gives the object itself. */
function jsonObject<T extends z.ZodTypeAny>(inner: T) {
  return z.preprocess((v) => {
    if (typeof v !== 'string') return v;
    try {
      return JSON.parse(v) as unknown;
    } catch {
      return v; // left as a string: the schema answers "expected object"
    }
  }, inner);
}

/** An event name, or a prefix ending in `*` (`marketing.*`); `*` alone matches every event. */
const EVENT_PATTERN = /^[^\s*]{0,128}\*?$/;

export const rateSpecSchema = z.strictObject({
  perSec: z.number().min(0, 'must be >= 0 (0 blocks the events)').max(100_000_000),
  burst: z.number().int().min(1, 'must be >= 1').max(1_000_000_000),
});
export type EventRateSpec = z.output<typeof rateSpecSchema>;

const eventTable = z
  .record(z.string(), rateSpecSchema)
  .superRefine((table, ctx) => {
    for (const k of Object.keys(table)) {
      if (k === '' || !EVENT_PATTERN.test(k)) ctx.addIssue({ code: 'custom', path: [k], message: 'an event name or a prefix ending in * (no spaces, * only at the end)' });
    }
  });
export type EventRateTable = z.output<typeof eventTable>;

export const eventRateLimitsType = jsonObject(eventTable).default({});

/**
 * Features a tenant can have switched on or off (tenantOverrides.<t>.features).
 * Helpers adding a feature add its name here and read it with
 * `LiveConfig.feature(tenant, name)` (config/live.ts); the default of every
 * feature is on, so naming it here changes nothing until a tenant turns it off.
 */
export const FEATURE_NAMES = ['binaryProtocol', 'roomPresenceEvents', 'roomPublish'] as const;
export type FeatureName = (typeof FEATURE_NAMES)[number];

const features = z.strictObject(Object.fromEntries(FEATURE_NAMES.map((f) => [f, z.boolean().optional()])) as Record<FeatureName, z.ZodOptional<z.ZodBoolean>>);

const nonNegInt = z.number().int().min(0, 'must be >= 0');
const posInt = z.number().int().min(1, 'must be >= 1');

/** The limits a tenant may override: the per-tenant and per-user ones (node-wide limits stay node-wide). */
export const TENANT_LIMIT_KEYS = {
  maxConnectionsPerUser: nonNegInt,
  frameRatePerUser: nonNegInt,
  frameBurstPerUser: posInt,
  frameRatePerTenant: nonNegInt,
  frameBurstPerTenant: posInt,
  publishRatePerUser: nonNegInt,
  publishBurstPerUser: posInt,
  apiPublishRatePerTenant: nonNegInt,
  apiPublishBurstPerTenant: posInt,
} as const;
export type TenantLimitKey = keyof typeof TENANT_LIMIT_KEYS;

const tenantOverride = z.strictObject({
  limits: z.strictObject(Object.fromEntries(Object.entries(TENANT_LIMIT_KEYS).map(([k, t]) => [k, t.optional()])) as { [K in TenantLimitKey]: z.ZodOptional<(typeof TENANT_LIMIT_KEYS)[K]> }).optional(),
  /** Replaces the global table for this tenant (entries not listed here are unlimited for it). */
  eventRateLimits: eventTable.optional(),
  features: features.optional(),
});
export type TenantOverride = z.output<typeof tenantOverride>;

export const tenantOverridesType = jsonObject(z.record(z.string().min(1).max(128), tenantOverride)).default({});
