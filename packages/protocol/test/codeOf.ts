/** Test helper: the BinaryProtocolError code `fn` throws ('ok' when it does not throw; anything else fails the test). */
import assert from 'node:assert/strict';
import { BinaryProtocolError } from '../src/binary/index.js';

export function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof BinaryProtocolError, `expected BinaryProtocolError, got ${String(err)}`);
    return err.code;
  }
  return 'ok';
}
