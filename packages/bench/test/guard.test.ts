import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertLoopbackAddress, assertLoopbackUrl, isLoopbackHost, NonLoopbackTargetError } from '../src/guard.js';
import { parseCli, runBenchCli } from '../src/cli.js';
import { sourceAddresses } from '../src/orchestrator.js';

test('loopback hosts are accepted', () => {
  for (const h of ['127.0.0.1', '127.0.0.2', '127.255.255.254', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1', 'LOCALHOST']) {
    assert.equal(isLoopbackHost(h), true, h);
  }
});

test('anything else is refused', () => {
  for (const h of ['10.0.0.1', '0.0.0.0', '128.0.0.1', '192.168.1.1', 'example.com', 'localhost.example.com', '::', '::ffff:10.0.0.1', '1.127.0.0', '']) {
    assert.equal(isLoopbackHost(h), false, h);
  }
  assert.throws(() => assertLoopbackUrl('http://10.1.2.3:8080'), NonLoopbackTargetError);
  assert.throws(() => assertLoopbackUrl('http://bench.example.com'), NonLoopbackTargetError);
  assert.throws(() => assertLoopbackUrl('https://127.0.0.1'), /scheme/);
  assert.throws(() => assertLoopbackAddress('192.168.0.2'), NonLoopbackTargetError);
  assert.equal(assertLoopbackUrl('http://127.0.0.1:8080').port, '8080');
});

test('the CLI refuses a non-loopback --url before opening anything', async () => {
  assert.throws(() => parseCli(['--url', 'http://203.0.113.5:8080', '--jwt-secret', 's', '--api-key', 'k']), NonLoopbackTargetError);
  const written: string[] = [];
  const orig = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((s: string) => {
    written.push(String(s));
    return true;
  }) as typeof process.stderr.write;
  try {
    assert.equal(await runBenchCli(['--url', 'http://203.0.113.5:8080', '--jwt-secret', 's', '--api-key', 'k']), 2);
  } finally {
    process.stderr.write = orig;
  }
  assert.match(written.join(''), /non-loopback/);
});

test('--source-base outside loopback is refused; addresses are spread per 400 connections', () => {
  assert.throws(() => parseCli(['--source-base', '10.0.0.2']), NonLoopbackTargetError);
  assert.deepEqual(sourceAddresses(1000), ['127.0.0.2', '127.0.0.3', '127.0.0.4']);
  assert.equal(sourceAddresses(15_000).length, 38);
  assert.deepEqual(sourceAddresses(10, '127.0.0.255', 2), ['127.0.0.255', '127.0.1.0']);
});

test('--help lists every scenario and option defaults with units', () => {
  const p = parseCli(['--help']);
  assert.equal(p.help, true);
  return import('../src/cli.js').then(({ HELP }) => {
    for (const s of ['broadcast', 'unicast', 'storm', 'idle']) assert.match(HELP, new RegExp(`\\n  ${s} `));
    assert.match(HELP, /--rate <msg\/s>.*\(default unicast 1000, broadcast 0\)/);
    assert.match(HELP, /--duration <s>.*\(default 15/);
    assert.match(HELP, /-n, --connections <n>.*\(default 1000/);
  });
});

test('option values are bounded', () => {
  assert.throws(() => parseCli(['--connections', '1000000']), /--connections/);
  assert.throws(() => parseCli(['--duration', '0']), /--duration/);
  assert.throws(() => parseCli(['--scenario', 'flood']), /--scenario/);
  assert.throws(() => parseCli(['--target', 'centrifugo']), /--target/);
  const p = parseCli(['-n', '40000', '--scenario', 'unicast']);
  assert.equal(p.run?.rate, 1000);
  assert.ok((p.run?.workers ?? 0) * 15_000 >= 40_000, 'workers raised so none holds more than 15k sockets');
});
