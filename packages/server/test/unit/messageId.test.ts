import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lastMessageId, randomMessageId } from '../../src/delivery/messageId.js';
import { jsonString } from '../../src/protocol/serverFrames.js';

test('message ids are version 4 UUIDs, flat strings, and do not repeat (across pool refills)', () => {
  const seen = new Set<string>();
  const nibbles = new Set<string>();
  for (let i = 0; i < 1000; i++) {
    const id = randomMessageId();
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.ok(!seen.has(id));
    seen.add(id);
    for (const c of id.replaceAll('-', '')) nibbles.add(c);
  }
  assert.equal(nibbles.size, 16);
});

test('the last id made is quoted as JSON.stringify quotes it (jsonString skips its test for it)', () => {
  for (let i = 0; i < 300; i++) {
    const id = randomMessageId();
    assert.equal(lastMessageId, id);
    assert.equal(jsonString(id), JSON.stringify(id));
  }
  // Any other string is still tested.
  assert.equal(jsonString('a"b'), JSON.stringify('a"b'));
  assert.equal(jsonString(lastMessageId + '\n'), JSON.stringify(lastMessageId + '\n'));
});
