#!/usr/bin/env node
// Builds the browser bundle of the SDK (ESM, minified, with a sourcemap) into
// dist/browser/herald-client.js — the package's `./browser` export, served by
// the server at /demo/sdk/ — and prints its size minified and gzipped, so
// growth is visible on every build.
//
// The prebuilt bundle is the `@herald/client/binary` entry: one self-contained
// file with both protocols. Then it prints what an app bundler makes of each
// entry: `@herald/client` (JSON only: no binary code at all) and
// `@herald/client/binary`. docs/client.md quotes these figures, and the
// tarball consumer test checks them against a real install.
import { build } from 'esbuild';
import { gzipSync, brotliCompressSync } from 'node:zlib';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outfile = join(root, 'dist/browser/herald-client.js');

const common = {
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2022', 'chrome100', 'firefox100', 'safari15.4'],
  minify: true,
  legalComments: 'none',
  // Bundle the protocol package from source so the bundle does not depend on
  // its dist/ being built first.
  alias: { '@herald/protocol': join(root, '../protocol/src/index.ts') },
  logLevel: 'warning',
};

const built = await build({
  ...common,
  entryPoints: [join(root, 'src/binary.ts')],
  outfile,
  // External: the map stays beside the bundle for the demo, without a comment pointing
  // installs at a file the package does not ship.
  sourcemap: 'external',
  write: false,
});
// Written atomically (temp file + rename): tests that serve the bundle may run while
// another build (e.g. npm pack's prepack) rewrites it.
mkdirSync(dirname(outfile), { recursive: true });
for (const f of built.outputFiles) {
  const tmp = `${f.path}.${process.pid}.tmp`;
  writeFileSync(tmp, f.contents);
  renameSync(tmp, f.path);
}

const code = readFileSync(outfile);
const kb = (n) => `${(n / 1024).toFixed(2)} KiB (${n} B)`;
console.log(`client bundle ${relative(process.cwd(), outfile) || outfile}`);
console.log(`  minified: ${kb(code.length)}`);
console.log(`  gzip:     ${kb(gzipSync(code, { level: 9 }).length)}`);
console.log(`  brotli:   ${kb(brotliCompressSync(code).length)}`);

// What an app bundler ships for each entry (in memory, one file each).
console.log('an app bundle of each entry:');
for (const [name, entry] of [['@herald/client (JSON only)', 'src/index.ts'], ['@herald/client/binary', 'src/binary.ts']]) {
  const r = await build({ ...common, entryPoints: [join(root, entry)], write: false, outdir: join(root, 'dist/app') });
  const js = r.outputFiles.find((f) => f.path.endsWith('.js')).contents;
  console.log(`  ${name.padEnd(27)} ${kb(js.length)} minified, ${kb(gzipSync(js, { level: 9 }).length)} gzip`);
}
