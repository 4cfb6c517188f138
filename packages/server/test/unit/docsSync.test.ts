/** docs/ must say what the code does: close codes, HTTP error codes and config keys. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CLOSE_CODES } from '@herald/protocol';
import { ERRORS } from '../../src/errors.js';
import { renderDoc, DOC_PATH } from '../../../../scripts/config-docs.js';

const docs = (name: string): string => readFileSync(new URL(`../../../../docs/${name}`, import.meta.url), 'utf8');

function between(text: string, tag: string): string {
  const m = new RegExp(`<!-- ${tag}:begin -->([\\s\\S]*?)<!-- ${tag}:end -->`).exec(text);
  assert.ok(m, `missing ${tag} markers`);
  return m[1]!;
}

test('docs/protocol.md lists exactly the close codes of the registry', () => {
  const table = between(docs('protocol.md'), 'close-codes');
  const rows = [...table.matchAll(/^\| (\d{4}) \| ([^|]+) \|/gm)].map((m) => [Number(m[1]), m[2]!.trim()] as const);
  assert.deepEqual(
    rows.map(([c]) => c),
    CLOSE_CODES.map((c) => c.code),
  );
  for (const [code, meaning] of rows) assert.equal(meaning, CLOSE_CODES.find((c) => c.code === code)!.meaning, `meaning of ${code}`);
});

test('docs/http-api.md lists exactly the error codes and statuses of errors.ts', () => {
  const table = between(docs('http-api.md'), 'error-codes');
  const rows = [...table.matchAll(/^\| (\d{3}) \| `([a-z_]+)` \|/gm)].map((m) => [m[2]!, Number(m[1])] as const);
  assert.deepEqual(Object.fromEntries(rows), Object.fromEntries(Object.entries(ERRORS).map(([k, v]) => [k, v.status])));
});

test('docs/configuration.md holds the table generated from the schema', () => {
  const current = readFileSync(DOC_PATH, 'utf8');
  assert.equal(current, renderDoc(current), 'run: npx tsx scripts/config-docs.ts');
});
