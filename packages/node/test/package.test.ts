/** @herald/node is publishable like the other packages: dist with types, README, LICENSE, nothing else. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkgDir = join(dirname(fileURLToPath(import.meta.url)), '..');

test('npm pack: dist (js + d.ts), README and LICENSE; exports carry types', () => {
  const build = spawnSync(process.execPath, [join(pkgDir, '../../node_modules/typescript/bin/tsc'), '-b', pkgDir], { encoding: 'utf8' });
  assert.equal(build.status, 0, build.stdout + build.stderr);
  const packed = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: pkgDir, encoding: 'utf8' });
  assert.equal(packed.status, 0, packed.stderr);
  const files = (JSON.parse(packed.stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path).sort();
  assert.ok(files.includes('README.md') && files.includes('LICENSE') && files.includes('package.json'));
  assert.ok(files.includes('dist/index.js') && files.includes('dist/index.d.ts'));
  assert.deepEqual(
    files.filter((f) => !/^dist\/[a-z]+\.(js|d\.ts)$/.test(f) && !['README.md', 'LICENSE', 'package.json'].includes(f)),
    [],
    'no sources, tests or maps',
  );
  const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { exports: Record<string, { types?: string }>; private?: boolean };
  assert.equal(pkg.private, undefined);
  assert.equal(pkg.exports['.']!.types, './dist/index.d.ts');
});
