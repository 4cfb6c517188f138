#!/usr/bin/env node
// Builds the browser bundle of the SDK (ESM, minified, with a sourcemap) into
// dist/browser/herald-client.js — the server serves it at /demo/sdk/ — and
// prints its size minified and gzipped, so growth is visible on every build.
//
// The binary protocol (protocol: 'binary') is a dynamic import in the SDK. The
// prebuilt bundle stays one self-contained file, so it carries it inline; an
// app bundler that splits code loads it only when binary is chosen. The second
// figure printed is that split: what a JSON-only app loads, and the chunk
// the binary protocol adds.
import { build } from 'esbuild';
import { gzipSync, brotliCompressSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
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

await build({
  ...common,
  entryPoints: [join(root, 'src/index.ts')],
  outfile,
  sourcemap: true,
});

const code = readFileSync(outfile);
const kb = (n) => `${(n / 1024).toFixed(2)} KiB (${n} B)`;
console.log(`client bundle ${relative(process.cwd(), outfile) || outfile}`);
console.log(`  minified: ${kb(code.length)}`);
console.log(`  gzip:     ${kb(gzipSync(code, { level: 9 }).length)}`);
console.log(`  brotli:   ${kb(brotliCompressSync(code).length)}`);

// The same with code splitting, in memory: the JSON-only load and the binary chunk.
const split = await build({ ...common, entryPoints: [join(root, 'src/index.ts')], outdir: join(root, 'dist/split'), splitting: true, write: false, metafile: true });
const files = new Map(split.outputFiles.map((f) => [relative(process.cwd(), f.path), f.contents]));
const outputs = split.metafile.outputs;
const entry = Object.keys(outputs).find((k) => outputs[k].entryPoint);
const initial = new Set();
const visit = (name) => {
  if (initial.has(name)) return;
  initial.add(name);
  for (const i of outputs[name].imports) if (i.kind === 'import-statement' && !i.external) visit(i.path);
};
visit(entry);
const sizes = (names) => {
  const all = names.map((n) => files.get(n));
  return { min: all.reduce((a, c) => a + c.length, 0), gz: all.reduce((a, c) => a + gzipSync(c, { level: 9 }).length, 0) };
};
const json = sizes([...initial]);
const lazy = sizes(Object.keys(outputs).filter((n) => !initial.has(n) && !n.endsWith('.map')));
console.log('with code splitting (an app bundler):');
console.log(`  JSON only:               ${kb(json.min)} minified, ${kb(json.gz)} gzip`);
console.log(`  + binary protocol chunk: ${kb(lazy.min)} minified, ${kb(lazy.gz)} gzip (loaded when protocol: 'binary')`);
