/** The label values of the herald_hook_* series are documented (docs/operations.md, docs/hooks.md). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { HOOK_CALL_RESULTS, HOOK_FAILURE_REASONS, HOOK_NAMES } from '../../src/observability/labels.js';
import { ErrorCode } from '@herald/protocol';

const doc = (name: string): string => readFileSync(new URL(`../../../../docs/${name}`, import.meta.url), 'utf8');

test('every hook name, call result and failure reason is in docs/operations.md', () => {
  const ops = doc('operations.md');
  for (const v of [...HOOK_NAMES, ...HOOK_CALL_RESULTS, ...HOOK_FAILURE_REASONS]) assert.ok(ops.includes('`' + v + '`'), v);
});

test('docs/protocol.md and docs/hooks.md name the hook error codes', () => {
  const protocol = doc('protocol.md');
  const hooks = doc('hooks.md');
  for (const code of [ErrorCode.Forbidden, ErrorCode.Unavailable, ErrorCode.NotSupported]) {
    assert.ok(protocol.includes('| `' + code + '` |'), `protocol.md error table: ${code}`);
    assert.ok(hooks.includes('`' + code + '`'), `hooks.md: ${code}`);
  }
});
