/**
 * Nesting-depth bounds for untrusted JSON. `JSON.parse` itself copes with deep
 * nesting, but everything after it that recurses (`JSON.stringify`, structured
 * clone, zod) overflows the stack on a 10 KB frame of `[[[[…`: a one-request
 * crash. Both checks are iterative, so they cannot overflow themselves.
 */

/**
 * Deepest `[`/`{` nesting of a JSON text, counting only brackets outside
 * strings; stops scanning as soon as `max` is exceeded. Malformed text is
 * left to `JSON.parse` to refuse: this only measures.
 */
export function jsonTextDepthExceeds(text: string, max: number): boolean {
  // The depth is at most the number of `[` and `{` in the text (those inside strings only add to
  // that count): when it is within `max` — any usual body or frame — the scan below cannot find
  // more. indexOf searches natively; the loop below costs ~40 instructions a character (issue 20).
  if (openersWithin(text, max)) return false;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c /* \ */) i++;
      else if (c === 0x22 /* " */) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b /* [ */ || c === 0x7b /* { */) {
      if (++depth > max) return true;
    } else if (c === 0x5d /* ] */ || c === 0x7d /* } */) {
      depth--;
    }
  }
  return false;
}

/** Whether the text holds at most `max` of `[` and `{` in all (stops counting past `max`). */
function openersWithin(text: string, max: number): boolean {
  let n = 0;
  for (let i = text.indexOf('{'); i !== -1; i = text.indexOf('{', i + 1)) if (++n > max) return false;
  for (let i = text.indexOf('['); i !== -1; i = text.indexOf('[', i + 1)) if (++n > max) return false;
  return true;
}

/**
 * Whether a decoded value nests arrays/objects deeper than `max` (a scalar
 * has depth 0, `[]` depth 1). For values that did not come from JSON text,
 * such as a binary v2 frame's decoded payload.
 */
export function jsonValueDepthExceeds(value: unknown, max: number): boolean {
  if (value === null || typeof value !== 'object') return false;
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [v, d] = stack.pop()!;
    if (d > max) return true;
    const children = Array.isArray(v) ? v : Object.values(v as Record<string, unknown>);
    for (const c of children) if (c !== null && typeof c === 'object') stack.push([c, d + 1]);
  }
  return false;
}

/** Default bound for frames and request bodies (`maxJsonDepth`). */
export const DEFAULT_MAX_JSON_DEPTH = 32;
