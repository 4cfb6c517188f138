/**
 * docs/client.md is checked against the code: every option, event and error
 * code is documented, and the Node example in it is the example file, which
 * runs against a real server.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLOSE_CODES, type CloseAdvice } from '@herald/protocol';
import { publish, startServer, token, wsUrl } from './helpers/realServer.js';

const here = dirname(fileURLToPath(import.meta.url));
const clientRoot = join(here, '..');
const repoRoot = join(clientRoot, '../..');
const doc = readFileSync(join(repoRoot, 'docs/client.md'), 'utf8');
const src = (file: string) => readFileSync(join(clientRoot, 'src', file), 'utf8');

/** Member names of `interface name { … }` in a source file (top-level members only). */
function interfaceKeys(source: string, name: string): string[] {
  const start = source.indexOf(`export interface ${name} `);
  assert.ok(start >= 0, `interface ${name} not found`);
  const body = source.slice(start, source.indexOf('\n}\n', start));
  return [...body.matchAll(/^ {2}(\w+)\??:/gm)].map((m) => m[1]!);
}

function documentedRows(): Set<string> {
  return new Set([...doc.matchAll(/^\| `([\w]+)(?:\([^`]*\))?[^`]*` \|/gm)].map((m) => m[1]!));
}

test('every client option is documented with its default', () => {
  const keys = interfaceKeys(src('options.ts'), 'HeraldClientOptions');
  assert.ok(keys.length >= 15, `parsed only ${keys.length} options`);
  const rows = documentedRows();
  const missing = keys.filter((k) => !rows.has(k));
  assert.deepEqual(missing, [], 'options missing from the docs/client.md options table');
});

test('every event is documented', () => {
  const keys = interfaceKeys(src('client.ts'), 'HeraldEvents');
  assert.deepEqual(keys.sort(), ['closed', 'connected', 'disconnected', 'error', 'message', 'presence', 'roomState', 'roomUnrecovered', 'state', 'unrecovered']);
  const rows = documentedRows();
  assert.deepEqual(keys.filter((k) => !rows.has(k)), []);
});

test('every error code is documented', () => {
  const codes = [...src('errors.ts').matchAll(/^ {2}\| '(\w+)'/gm)].map((m) => m[1]!);
  assert.ok(codes.length >= 10, `parsed only ${codes.length} codes`);
  const rows = documentedRows();
  assert.deepEqual(codes.filter((c) => !rows.has(c)), []);
});

test('the close-code table lists every code of the registry, each with the behaviour its advice implies', () => {
  const m = /<!-- client-close-codes:begin -->([\s\S]*?)<!-- client-close-codes:end -->/.exec(doc);
  assert.ok(m, 'missing client-close-codes markers');
  const behaviour = new Map<number, string>();
  for (const row of m[1]!.matchAll(/^\| ([\d, ]+) \| [^|]+ \| ([^|]+) \|$/gm)) {
    for (const code of row[1]!.split(',')) behaviour.set(Number(code.trim()), row[2]!.trim());
  }
  // What the SDK does for each advice, in the words of the table.
  const says: Record<CloseAdvice, RegExp> = { stop: /^stops/, reconnect: /^reconnects with backoff/, 'back-off': /^reconnects with a wider backoff/, 'refresh-token': /^token provider/ };
  for (const c of CLOSE_CODES) {
    const text = behaviour.get(c.code);
    assert.ok(text !== undefined, `close code ${c.code} (${c.name}) missing from docs/client.md`);
    assert.match(text, says[c.advice], `close code ${c.code}: advice ${c.advice}`);
  }
  const unknown = [...behaviour.keys()].filter((code) => code !== 1006 && !CLOSE_CODES.some((c) => c.code === code));
  assert.deepEqual(unknown, [], 'docs/client.md lists codes the registry does not have (1006 is the network\'s own)');
});

test('the Node example in the docs is examples/node-inbox.mjs, and it runs against a real server', async () => {
  const example = readFileSync(join(clientRoot, 'examples/node-inbox.mjs'), 'utf8');
  assert.ok(doc.includes('```js\n' + example + '```'), 'docs/client.md must embed examples/node-inbox.mjs verbatim');

  // The example imports @herald/client, i.e. the compiled dist/.
  const tsc = join(repoRoot, 'node_modules/typescript/bin/tsc');
  const built = spawnSync(process.execPath, [tsc, '-b', join(repoRoot, 'packages/client')], { encoding: 'utf8' });
  assert.equal(built.status, 0, `tsc -b packages/client failed: ${built.stdout}${built.stderr}`);

  const node = await startServer({});
  const child = spawn(process.execPath, [join(clientRoot, 'examples/node-inbox.mjs')], {
    env: { ...process.env, HERALD_URL: wsUrl(node), HERALD_TOKEN: await token(node, 'alice', { device: 'node-example' }) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const waiters: { re: RegExp; resolve: () => void }[] = [];
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    for (const w of waiters.filter((x) => x.re.test(out))) w.resolve();
  });
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const waitOut = (re: RegExp, ms = 10_000) =>
    new Promise<void>((resolve, reject) => {
      if (re.test(out)) return resolve();
      const timer = setTimeout(() => reject(new Error(`example printed no ${re} within ${ms} ms; stdout:\n${out}\nstderr:\n${err}`)), ms);
      waiters.push({ re, resolve: () => (clearTimeout(timer), resolve()) });
    });
  try {
    await waitOut(/connected as alice\/node-example/);
    // Its own room message comes back from the server.
    await waitOut(/message seq=- room=lobby data=\{"text":"hello from Node"\}/);
    await publish(node, { to: { user: 'alice' }, data: { text: 'hi' } });
    await waitOut(/message seq=1 room=- data=\{"text":"hi"\}/);
    child.kill('SIGTERM');
    assert.equal(await exited, 0, `example exited badly; stderr:\n${err}`);
    assert.match(out, /stopped \(1000\)/);
  } finally {
    child.kill('SIGKILL');
    await node.close();
  }
});
