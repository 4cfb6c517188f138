/**
 * The packages as a user gets them (DESIGN.md §9): `npm pack` of
 * @herald/protocol, @herald/client and @herald/server, installed from the
 * tarballs into a fresh project under os.tmpdir() — outside this repository,
 * so nothing resolves through the workspace links. There:
 *   - the tarballs hold dist, README, LICENSE (and the server its static
 *     assets), never tests, sources or source maps;
 *   - `herald serve` from the installed bin starts, serves /demo/ and /admin/,
 *     and `herald bench` says in one line that the bench package is absent;
 *   - the SDK from the installed @herald/client (+ ws) connects from Node,
 *     over JSON and over the binary subpath, and receives a published message;
 *   - esbuild bundles each entry for the browser: the JSON-only entry holds
 *     no binary code, and every size matches the table in docs/client.md.
 *
 * Dependencies (ws, zod, pino, …) come from the npm cache, else the registry.
 * Never skipped: packaging breaks silently otherwise.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { waitUntil } from '../helpers/harness.js';

const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'herald-pack-'));
const app = join(work, 'app');
const SECRET = 'tarball-secret-0123456789abcdef';
const API_KEY = 'tarball-api-key-0123456789';
const PACKAGES = ['protocol', 'client', 'server'] as const;

const procs: ChildProcess[] = [];
after(() => {
  for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
});

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): string {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/**
 * The environment of a user's shell: none of this runner's HERALD_* variables,
 * and none of what `npm test` exports about the repository (npm_config_local_prefix
 * would make the temp project's `npm install` write into the repository).
 */
const NPM_RUN_VARS = /^(npm_config_(local_prefix|workspaces?|include_workspace_root)|npm_package_|npm_lifecycle_|INIT_CWD$)/i;
const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('HERALD_') && !NPM_RUN_VARS.test(k)));

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

interface PackEntry {
  name: string;
  filename: string;
  files: { path: string }[];
}

/** The documented app-bundle sizes: docs/client.md's table, row by entry. */
function documentedSizes(): Map<string, { min: number; gzip: number }> {
  const doc = readFileSync(join(repoRoot, 'docs/client.md'), 'utf8');
  const out = new Map<string, { min: number; gzip: number }>();
  for (const m of doc.matchAll(/^\| `(@herald\/client[^`]*)` \|[^|]*\| ([\d.]+) KiB \| ([\d.]+) KiB \|$/gm)) {
    out.set(m[1]!, { min: Number(m[2]) * 1024, gzip: Number(m[3]) * 1024 });
  }
  return out;
}

/** Documented figures are rounded to 0.1 KiB; code drifts a little between doc updates. */
function assertNear(actual: number, documented: number, what: string): void {
  const bound = Math.max(0.05 * documented, 256);
  assert.ok(Math.abs(actual - documented) <= bound, `${what}: ${(actual / 1024).toFixed(2)} KiB measured, docs/client.md says ${(documented / 1024).toFixed(1)} KiB: update the table`);
}

let packed: PackEntry[] = [];

test('npm pack: three tarballs with dist, README and LICENSE; no tests, sources or maps', () => {
  const dest = join(work, 'tarballs');
  mkdirSync(dest);
  // prepack builds each package (tsc -b; the client also its browser bundle).
  const out = run('npm', ['pack', ...PACKAGES.flatMap((p) => ['-w', `packages/${p}`]), '--pack-destination', dest, '--json'], repoRoot);
  packed = JSON.parse(out.slice(out.indexOf('\n[') + 1)) as PackEntry[];
  assert.deepEqual(packed.map((p) => p.name).sort(), ['@herald/client', '@herald/protocol', '@herald/server']);
  const rootLicense = join(repoRoot, 'LICENSE');
  for (const p of packed) {
    const files = p.files.map((f) => f.path);
    for (const f of ['package.json', 'README.md', 'LICENSE']) assert.ok(files.includes(f), `${p.name} ships ${f}`);
    const stray = files.filter((f) => /(^|\/)(test|src)\/|\.map$|\.ts$(?<!\.d\.ts)|tsbuildinfo/.test(f));
    assert.deepEqual(stray, [], `${p.name} ships no tests, sources or maps`);
    const dir = join(repoRoot, 'packages', p.name.slice('@herald/'.length));
    const license = readFileSync(join(dir, 'LICENSE'), 'utf8');
    assert.match(license, /^MIT License\n\nCopyright \(c\) 2026 Herald contributors\n/);
    if (existsSync(rootLicense)) assert.equal(license, readFileSync(rootLicense, 'utf8'), `${p.name}/LICENSE is the root LICENSE`);
    const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(manifest.license, 'MIT');
    assert.ok(manifest.repository && Array.isArray(manifest.keywords), `${p.name} has repository and keywords`);
  }
  const server = packed.find((p) => p.name === '@herald/server')!.files.map((f) => f.path);
  for (const f of ['bin/herald.js', 'static/demo/index.html', 'static/demo/app.js', 'static/admin/index.html', 'static/admin/admin.js']) assert.ok(server.includes(f), `the server ships ${f}`);
  const client = packed.find((p) => p.name === '@herald/client')!.files.map((f) => f.path);
  assert.ok(client.includes('dist/browser/herald-client.js'), 'the client ships its prebuilt browser bundle');
  assert.ok(client.length < 60, `the client ships ${client.length} files`);
});

test('installed outside the repository: herald serve, /demo/, /admin/, the SDK from Node over JSON and binary, herald bench absent', { timeout: 120_000 }, async () => {
  assert.equal(packed.length, 3, 'the pack test ran first');
  mkdirSync(app, { recursive: true });
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'herald-consumer', private: true, type: 'module' }, null, 2));
  // The tarballs alone (no workspace to fall back on) plus ws for Node 20; scripts off: nothing needs building.
  run('npm', ['install', ...packed.map((p) => join(work, 'tarballs', p.filename)), 'ws', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error'], app, cleanEnv);
  for (const p of PACKAGES) {
    assert.ok(existsSync(join(app, 'node_modules/@herald', p, 'package.json')), `@herald/${p} installed`);
    assert.equal(lstatSync(join(app, 'node_modules/@herald', p)).isSymbolicLink(), false, `@herald/${p} is unpacked from its tarball, not linked`);
  }

  // The bin as npm links it.
  const bin = join(app, 'node_modules/.bin/herald');
  assert.ok(existsSync(bin), 'npm linked the herald bin');
  const bench = spawnSync(bin, ['bench'], { cwd: app, env: cleanEnv, encoding: 'utf8', timeout: 30_000 });
  assert.notEqual(bench.status, 0);
  assert.equal(bench.stderr.trim().split('\n').length, 1, `one line: ${bench.stderr}`);
  assert.match(bench.stderr, /@herald\/bench is not installed/);

  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const server = spawn(bin, ['serve'], {
    cwd: app,
    env: { ...cleanEnv, HERALD_PORT: String(port), HERALD_HOST: '127.0.0.1', HERALD_JWT_SECRET: SECRET, HERALD_API_KEY: API_KEY, HERALD_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  procs.push(server);
  let serverOut = '';
  server.stdout!.on('data', (d: Buffer) => (serverOut += d.toString()));
  server.stderr!.on('data', (d: Buffer) => (serverOut += d.toString()));
  for (const deadline = Date.now() + 20_000; ; ) {
    assert.equal(server.exitCode, null, `the installed server exited: ${serverOut}`);
    if ((await fetch(url + '/readyz').catch(() => null))?.status === 200) break;
    assert.ok(Date.now() < deadline, `the installed server did not get ready in 20 s: ${serverOut}`);
    await new Promise((r) => setTimeout(r, 50));
  }

  const demo = await fetch(url + '/demo/');
  assert.equal(demo.status, 200);
  assert.match(await demo.text(), /herald-client\.js|app\.js/);
  const sdk = await fetch(url + '/demo/sdk/herald-client.js');
  assert.equal(sdk.status, 200);
  assert.equal(sdk.headers.get('content-type'), 'text/javascript; charset=utf-8');
  assert.equal(Buffer.from(await sdk.arrayBuffer()).length, readFileSync(join(app, 'node_modules/@herald/client/dist/browser/herald-client.js')).length);
  assert.equal((await fetch(url + '/admin/login')).status, 200);

  // The SDK from Node: the JSON client from the main entry, the binary one from its subpath.
  writeFileSync(
    join(app, 'devices.mjs'),
    `import { WebSocket } from 'ws';
import { HeraldClient } from '@herald/client';
import { HeraldClient as BinaryClient } from '@herald/client/binary';
import { mintToken } from '@herald/server';
const [url, secret] = process.argv.slice(2);
const pending = new Set(['json', 'binary']);
for (const [protocol, Client] of [['json', HeraldClient], ['binary', BinaryClient]]) {
  const device = 'node-' + protocol;
  const c = new Client({ url, token: await mintToken({ secret, sub: 'pat', device }), device, protocol, WebSocket });
  c.on('message', (m) => {
    console.log(JSON.stringify({ protocol, seq: m.seq, data: m.data }));
    pending.delete(protocol);
    c.close();
    if (pending.size === 0) process.exit(0);
  });
  await c.connect();
}
console.log(JSON.stringify({ ready: true }));
setTimeout(() => process.exit(3), 20000).unref();
`,
  );
  const devices = spawn(process.execPath, ['devices.mjs', `ws://127.0.0.1:${port}/ws`, SECRET], { cwd: app, env: cleanEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  procs.push(devices);
  const lines: Record<string, unknown>[] = [];
  let devErr = '';
  let buf = '';
  devices.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      lines.push(JSON.parse(buf.slice(0, nl)) as Record<string, unknown>);
      buf = buf.slice(nl + 1);
    }
  });
  devices.stderr!.on('data', (d: Buffer) => (devErr += d.toString()));
  const exited = new Promise<number | null>((resolve) => devices.on('exit', (code) => resolve(code)));
  await waitUntil(() => {
    assert.equal(devices.exitCode, null, `the SDK script exited: ${devErr}`);
    return lines.some((l) => l.ready === true);
  }, 20_000, 'the SDK clients to connect');
  const pub = await fetch(url + '/api/v1/publish', {
    method: 'POST',
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ to: { user: 'pat' }, data: { order: 42 } }),
  });
  assert.equal(pub.status, 200, await pub.text());
  assert.equal(await exited, 0, `the SDK script failed: ${devErr}`);
  const got = lines.filter((l) => 'protocol' in l).sort((a, b) => String(a.protocol).localeCompare(String(b.protocol)));
  assert.deepEqual(got, [
    { protocol: 'binary', seq: 1, data: { order: 42 } },
    { protocol: 'json', seq: 1, data: { order: 42 } },
  ]);
  server.kill('SIGTERM');
});

/** Starts the installed server in dev mode and returns its banner's demo line. */
async function devBannerDemoLine(): Promise<string> {
  const port = await freePort();
  const dev = spawn(join(app, 'node_modules/.bin/herald'), ['serve'], { cwd: app, env: { ...cleanEnv, HERALD_PORT: String(port), HERALD_HOST: '127.0.0.1', HERALD_LOG_LEVEL: 'silent' }, stdio: ['ignore', 'pipe', 'pipe'] });
  procs.push(dev);
  let out = '';
  dev.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  dev.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  try {
    return await waitUntil(() => {
      assert.equal(dev.exitCode, null, `the dev server exited: ${out}`);
      return /^ *Chat demo:.*$/m.exec(out)?.[0].trim();
    }, 20_000, 'the dev banner');
  } finally {
    dev.kill('SIGKILL');
  }
}

test('the dev banner advertises /demo/ only when the installed server can serve it', async () => {
  assert.ok(existsSync(join(app, 'node_modules/@herald/server')), 'the install test ran first');
  assert.match(await devBannerDemoLine(), /^Chat demo: +http:\/\/127\.0\.0\.1:\d+\/demo\/$/);
  // Without the SDK bundle the page cannot work: the banner says so instead of advertising it.
  const bundle = join(app, 'node_modules/@herald/client/dist/browser/herald-client.js');
  const saved = readFileSync(bundle);
  rmSync(bundle);
  try {
    assert.match(await devBannerDemoLine(), /^Chat demo: +not installed/);
  } finally {
    writeFileSync(bundle, saved);
  }
});

test('esbuild bundles of the installed SDK: the JSON-only entry has no binary code; sizes are the documented ones', async () => {
  assert.ok(existsSync(join(app, 'node_modules/@herald/client')), 'the install test ran first');
  const documented = documentedSizes();
  const entries = {
    '@herald/client': `import { HeraldClient } from '@herald/client';\nconst c = new HeraldClient({ url: '/ws', token: 't' });\nc.on('message', (m) => console.log(m.data));\nvoid c.connect();\n`,
    '@herald/client/binary': `import { HeraldClient } from '@herald/client/binary';\nconst c = new HeraldClient({ url: '/ws', token: 't', protocol: 'binary' });\nc.on('message', (m) => console.log(m.data));\nvoid c.connect();\n`,
  };
  for (const [entry, source] of Object.entries(entries)) {
    const file = `entry-${entry.replace(/\W+/g, '-')}.js`;
    writeFileSync(join(app, file), source);
    // What an app bundler does (with and without code splitting): resolve through the installed package's exports.
    for (const splitting of [false, true]) {
      const r = await build({ absWorkingDir: app, entryPoints: [file], bundle: true, format: 'esm', platform: 'browser', minify: true, splitting, write: false, outdir: join(app, 'out'), metafile: true, logLevel: 'error' });
      const js = r.outputFiles.filter((f) => f.path.endsWith('.js'));
      const min = js.reduce((a, f) => a + f.contents.length, 0);
      const gzip = js.reduce((a, f) => a + gzipSync(f.contents, { level: 9 }).length, 0);
      const binaryInputs = Object.values(r.metafile.outputs).flatMap((o) => Object.entries(o.inputs).filter(([path, v]) => v.bytesInOutput > 0 && /protocol\/dist\/binary\/|binaryWire\.js/.test(path)).map(([path]) => path));
      if (entry === '@herald/client') assert.deepEqual(binaryInputs, [], `a JSON-only bundle (splitting: ${splitting}) carries no binary code`);
      else assert.ok(binaryInputs.some((p) => p.includes('binaryWire.js')), 'the binary entry carries the codec');
      assert.equal(js.length, 1, `${entry} is one file (nothing lazy left to split), splitting: ${splitting}`);
      const doc = documented.get(entry);
      assert.ok(doc, `docs/client.md has a size row for ${entry}`);
      assertNear(min, doc.min, `${entry} minified`);
      assertNear(gzip, doc.gzip, `${entry} gzip`);
    }
  }
  // The package README (what npm shows) quotes the same figures.
  const readme = readFileSync(join(app, 'node_modules/@herald/client/README.md'), 'utf8');
  for (const [entry, d] of documented) {
    const row = readme.split('\n').find((l) => l.startsWith(`| \`${entry}\` |`));
    assert.ok(row?.includes(`${(d.min / 1024).toFixed(1)} KiB, ${(d.gzip / 1024).toFixed(1)} KiB gzip`), `the client README's ${entry} row matches docs/client.md: ${row}`);
  }
  // The prebuilt bundle, resolved through the ./browser export like a page's import map would point at it.
  const resolved = spawnSync(process.execPath, ['--input-type=module', '-e', "console.log(import.meta.resolve('@herald/client/browser'))"], { cwd: app, encoding: 'utf8' });
  assert.equal(resolved.status, 0, resolved.stderr);
  const browserFile = fileURLToPath(resolved.stdout.trim());
  assert.match(browserFile, /node_modules\/@herald\/client\/dist\/browser\/herald-client\.js$/);
  const bundle = readFileSync(browserFile);
  assert.doesNotMatch(bundle.toString('utf8'), /sourceMappingURL/, 'no pointer at a map the package does not ship');
  const doc = documented.get('@herald/client/browser');
  assert.ok(doc, 'docs/client.md has a size row for @herald/client/browser');
  assertNear(bundle.length, doc.min, 'prebuilt bundle minified');
  assertNear(gzipSync(bundle, { level: 9 }).length, doc.gzip, 'prebuilt bundle gzip');
  // Types resolve for each entry.
  for (const sub of ['', '/binary']) {
    const pkg = JSON.parse(readFileSync(join(app, 'node_modules/@herald/client/package.json'), 'utf8')) as { exports: Record<string, { types: string }> };
    assert.ok(existsSync(join(app, 'node_modules/@herald/client', pkg.exports['.' + sub]!.types)), `types of @herald/client${sub}`);
  }
  assert.ok(readdirSync(join(app, 'node_modules/@herald/client/dist')).every((f) => !f.endsWith('.map')));
});
