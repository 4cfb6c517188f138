#!/usr/bin/env node
// Builds the browser bundle of the SDK (ESM, minified, with a sourcemap) into
// dist/browser/herald-client.js — the server serves it at /demo/sdk/ — and
// prints its size minified and gzipped, so growth is visible on every build.
import { build } from 'esbuild';
import { gzipSync, brotliCompressSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outfile = join(root, 'dist/browser/herald-client.js');

await build({
  entryPoints: [join(root, 'src/index.ts')],
  outfile,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2022', 'chrome100', 'firefox100', 'safari15.4'],
  minify: true,
  sourcemap: true,
  legalComments: 'none',
  // Bundle the protocol package from source so the bundle does not depend on
  // its dist/ being built first.
  alias: { '@herald/protocol': join(root, '../protocol/src/index.ts') },
  logLevel: 'warning',
});

const code = readFileSync(outfile);
const kb = (n) => `${(n / 1024).toFixed(2)} KiB (${n} B)`;
console.log(`client bundle ${relative(process.cwd(), outfile) || outfile}`);
console.log(`  minified: ${kb(code.length)}`);
console.log(`  gzip:     ${kb(gzipSync(code, { level: 9 }).length)}`);
console.log(`  brotli:   ${kb(brotliCompressSync(code).length)}`);
