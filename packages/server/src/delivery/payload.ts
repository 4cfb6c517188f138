/**
 * The data of a publish as the pipeline carries it: JSON text, serialized
 * once. A binary payload (`data_b64`) travels as the JSON string of its
 * canonical base64 and is flagged `binary`; its size is the decoded bytes.
 */
import { base64DecodedLength, decodeBase64, encodeBase64 } from '@herald/protocol';

export interface Payload {
  /** JSON text (for binary: the JSON string of the base64). */
  data: string;
  binary: boolean;
  /** What the size limit counts: JSON bytes, or decoded bytes. */
  bytes: number;
  /** The field the size refers to. */
  field: 'data' | 'data_b64';
}

/** `b64` must have passed isBase64. */
export function binaryPayload(b64: string): Payload {
  // Canonical form (padding included) so that every client decodes the same text the same way.
  const canonical = b64.length % 4 === 0 ? b64 : encodeBase64(decodeBase64(b64));
  return { data: JSON.stringify(canonical), binary: true, bytes: base64DecodedLength(b64), field: 'data_b64' };
}

/**
 * The payload of a publish body. With `within` (the size limit the caller checks `bytes`
 * against): a JSON text too short to be over it — at most 3 UTF-8 bytes per UTF-16 unit — is not
 * measured (`Buffer.byteLength` is a call into C++ per publish, issue 20), and `bytes` is then its
 * length in units, no more than its UTF-8 size and so within `within` too; any text that could be
 * over it is measured exactly.
 */
export function payloadOf(body: { data?: unknown; data_b64?: string | undefined }, within = 0): Payload {
  if (body.data_b64 !== undefined) return binaryPayload(body.data_b64);
  const data = JSON.stringify(body.data);
  return { data, binary: false, bytes: data === undefined ? 0 : data.length * 3 <= within ? data.length : Buffer.byteLength(data), field: 'data' };
}
