/**
 * Per-connection compression negotiation.
 *
 * The client lists the codecs it can decode, most preferred first, in the
 * `compression` query parameter of the upgrade request
 * (`/ws?compression=zstd,deflate`). The server picks the first listed codec it
 * also supports — or `none` — and names it in the welcome payload
 * (`"compression":"deflate"`). Until it has read the welcome, a client sends
 * uncompressed frames only (the server may not support what it asked for).
 * After that either side may compress any frame with the chosen codec, or
 * not: the header says which, so `none` is always acceptable.
 */
import type { WelcomeFrame } from '../frames.js';
import type { CodecName } from './compression.js';
import type { CompressionName } from './header.js';

/** Query parameter of the upgrade request carrying the client's offer. */
export const COMPRESSION_PARAM = 'compression';

/** Longest offer looked at; longer values are cut (a query string is attacker-controlled). */
const MAX_OFFER_CHARS = 128;
const KNOWN: ReadonlySet<string> = new Set<CompressionName>(['none', 'deflate', 'zstd']);

/**
 * The client's offer in its preference order: known names only, lower-cased,
 * deduplicated. Unknown names are skipped (a newer client may know more
 * codecs). Absent or empty → [] (meaning `none`).
 */
export function parseCompressionOffer(param: string | null | undefined): CompressionName[] {
  if (!param) return [];
  const out: CompressionName[] = [];
  for (const token of param.slice(0, MAX_OFFER_CHARS).split(',')) {
    const name = token.trim().toLowerCase();
    if (KNOWN.has(name) && !out.includes(name as CompressionName)) out.push(name as CompressionName);
  }
  return out;
}

/**
 * Server side: the first codec of the client's offer that the server supports
 * (the client's order wins: it knows its own CPU and link), else `none`. An
 * offer listing `none` before a codec prefers no compression.
 */
export function chooseCompression(offer: readonly CompressionName[], supported: readonly CodecName[]): CompressionName {
  for (const name of offer) {
    if (name === 'none') return 'none';
    if (supported.includes(name)) return name;
  }
  return 'none';
}

/** Client side: the query parameter value for an offer, e.g. `deflate,none`. */
export function formatCompressionOffer(offer: readonly CompressionName[]): string {
  return offer.join(',');
}

/**
 * The welcome of a v2 connection: the v1 welcome plus the negotiated codec and
 * the threshold above which the server compresses (bytes).
 */
export interface BinaryWelcomeFrame extends WelcomeFrame {
  compression: CompressionName;
  compression_threshold: number;
}
