import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { KeyedBuckets } from '../../src/limits/tokenBucket.js';
import { clientAddress } from '../../src/limits/clientAddress.js';
import { originAllowed } from '../../src/limits/originCheck.js';

test('token bucket: burst, then the sustained rate, with the wait to retry', () => {
  const b = new KeyedBuckets({ ratePerSec: 10, burst: 3 });
  assert.equal(b.take('k', 1, 0), 0);
  assert.equal(b.take('k', 1, 0), 0);
  assert.equal(b.take('k', 1, 0), 0);
  assert.equal(b.take('k', 1, 0), 100); // one token takes 100 ms at 10/s
  assert.equal(b.take('k', 1, 100), 0);
  assert.equal(b.take('other', 1, 100), 0, 'keys are independent');
  assert.equal(b.take('k', 5, 100), 500, 'a cost above what is there waits for it');
});

test('token bucket: rate 0 disables; idle full buckets are forgotten', () => {
  assert.equal(new KeyedBuckets({ ratePerSec: 0, burst: 1 }).take('k', 100), 0);
  const b = new KeyedBuckets({ ratePerSec: 100, burst: 1 });
  for (let i = 0; i < 1000; i++) b.take('k' + i, 1, 0);
  assert.equal(b.size, 1000);
  b.take('late', 1, 20_000);
  assert.equal(b.size, 1);
});

function req(remote: string, xff?: string): IncomingMessage {
  return { socket: { remoteAddress: remote }, headers: xff === undefined ? {} : { 'x-forwarded-for': xff } } as unknown as IncomingMessage;
}

test('X-Forwarded-For is believed only from trusted proxies', () => {
  const trusted = new Set(['10.0.0.1', '10.0.0.2']);
  assert.equal(clientAddress(req('203.0.113.9', '1.2.3.4'), trusted), '203.0.113.9', 'untrusted peer: header ignored');
  assert.equal(clientAddress(req('10.0.0.1', '1.2.3.4'), trusted), '1.2.3.4');
  assert.equal(clientAddress(req('::ffff:10.0.0.1', 'spoofed, 5.6.7.8, 10.0.0.2'), trusted), '5.6.7.8', 'right-most untrusted hop');
  assert.equal(clientAddress(req('10.0.0.1'), trusted), '10.0.0.1');
});

test('origin allow-list matches exactly; no list allows all; no Origin is not a browser', () => {
  const list = ['https://app.example.com'];
  assert.equal(originAllowed('https://app.example.com', list), true);
  assert.equal(originAllowed('https://app.example.com.evil.io', list), false);
  assert.equal(originAllowed('http://app.example.com', list), false);
  assert.equal(originAllowed('https://evil.io', []), true);
  assert.equal(originAllowed(undefined, list), true);
});
