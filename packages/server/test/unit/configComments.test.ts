import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stripJsonComments } from '../../src/config/jsonc.js';
import { loadConfig, ConfigError } from '../../src/config/load.js';

test('comments are blanked, strings (with // and escaped quotes) kept, positions preserved', () => {
  const text = '{\n  // a comment\n  "a": "http://x/\\"//y", /* block\n spanning */ "b": 1 // tail\n}';
  const out = stripJsonComments(text);
  assert.equal(out.length, text.length);
  assert.equal(out.split('\n').length, text.split('\n').length);
  assert.deepEqual(JSON.parse(out), { a: 'http://x/"//y', b: 1 });
});

test('a config file with comments loads; a broken one still names the file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'herald-jsonc-'));
  const ok = join(dir, 'ok.json');
  writeFileSync(ok, '// starter\n{\n  "redisUrl": "redis://127.0.0.1:6379", // the // in the URL is not a comment\n  /* "port": 1, */ "port": 9100\n}\n');
  const c = loadConfig({ file: ok });
  assert.equal(c.port, 9100);
  assert.equal(c.redisUrl, 'redis://127.0.0.1:6379');
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, '{ // unterminated\n "port": }');
  assert.throws(() => loadConfig({ file: bad }), (e: unknown) => e instanceof ConfigError && /bad\.json is not valid JSON/.test(e.message));
});
