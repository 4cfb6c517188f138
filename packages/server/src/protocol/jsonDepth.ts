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
