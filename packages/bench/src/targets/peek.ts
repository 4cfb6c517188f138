/**
 * Fast path for deliveries: pulls the bench fields (t, k, r and a reliable
 * seq) out of a message frame by scanning instead of JSON.parse. Client CPU
 * shares the machine with the server under test, so a cheaper client leaves
 * more of the machine to the server; the same scanner serves every target,
 * keeping client cost equal. Anything unexpected falls back to full decoding.
 */
export interface Peeked {
  t: number;
  k: number;
  r: number;
  seq?: number;
}

/** Integer (optionally negative) right after `key` (e.g. '"t":'), or NaN. */
export function intAfter(text: string, key: string, from = 0): number {
  const at = text.indexOf(key, from);
  if (at < 0) return Number.NaN;
  let i = at + key.length;
  let neg = false;
  if (text.charCodeAt(i) === 45) {
    neg = true;
    i++;
  }
  let n = 0;
  let digits = 0;
  for (; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) break;
    n = n * 10 + (c - 48);
    digits++;
  }
  if (digits === 0) return Number.NaN;
  return neg ? -n : n;
}

/**
 * `kind` says how the frame marks a delivery: Herald/raw JSON frames carry
 * "type":"message"; Socket.IO events start with 42["message".
 */
export function peekDelivery(text: string, kind: 'json' | 'socketio'): Peeked | null {
  if (kind === 'socketio') {
    if (!text.startsWith('42["message",')) return null;
  } else if (!text.includes('"type":"message"')) return null;
  const dataAt = text.indexOf('"t":');
  if (dataAt < 0) return null;
  const t = intAfter(text, '"t":', dataAt);
  const k = intAfter(text, '"k":', dataAt);
  const r = intAfter(text, '"r":', dataAt);
  if (Number.isNaN(t) || Number.isNaN(k) || Number.isNaN(r)) return null;
  if (kind === 'socketio') return { t, k, r };
  const seq = intAfter(text, '"seq":');
  return Number.isNaN(seq) ? { t, k, r } : { t, k, r, seq };
}
