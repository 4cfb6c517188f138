import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseClientFrame, ProtocolViolation } from '../../src/protocol/clientFrames.js';

test('parses every client frame type', () => {
  assert.deepEqual(parseClientFrame('{"type":"ping"}'), { type: 'ping' });
  assert.deepEqual(parseClientFrame('{"type":"ack","seq":3}'), { type: 'ack', seq: 3 });
  assert.deepEqual(parseClientFrame('{"type":"sync","after":0,"id":"a"}'), { type: 'sync', after: 0, id: 'a' });
  assert.deepEqual(parseClientFrame('{"type":"join","room":"ops:1"}'), { type: 'join', room: 'ops:1' });
  assert.deepEqual(parseClientFrame('{"type":"leave","room":"r","id":"x"}'), { type: 'leave', room: 'r', id: 'x' });
  assert.deepEqual(parseClientFrame('{"type":"presence","room":"r"}'), { type: 'presence', room: 'r' });
  assert.deepEqual(parseClientFrame('{"type":"publish","room":"r","data":null,"event":"e"}'), { type: 'publish', room: 'r', data: null, event: 'e' });
  assert.deepEqual(parseClientFrame('{"type":"auth","token":"t"}'), { type: 'auth', token: 't' });
});

function violation(text: string): ProtocolViolation {
  try {
    parseClientFrame(text);
  } catch (err) {
    assert.ok(err instanceof ProtocolViolation);
    return err;
  }
  assert.fail(`no violation for ${text}`);
}

test('not JSON or not an object is fatal', () => {
  assert.equal(violation('nope').fatal, true);
  assert.equal(violation('"str"').fatal, true);
  assert.equal(violation('null').fatal, true);
  assert.equal(violation('[]').fatal, true);
});

test('bad fields are recoverable and name the field; ids are echoed', () => {
  const v = violation('{"type":"ack","seq":-1}');
  assert.equal(v.fatal, false);
  assert.equal(v.code, 'bad_ack');
  assert.equal(violation('{"type":"sync","after":"1","id":"q"}').id, 'q');
  assert.equal(violation('{"type":"sync","after":1e300}').code, 'bad_sync');
  assert.match(violation('{"type":"join","room":"a b"}').message, /room/);
  assert.match(violation('{"type":"publish","room":"a"}').message, /data/);
  assert.match(violation('{"type":"publish","room":"a","data":1,"event":7}').message, /event/);
  assert.equal(violation('{"type":"warp"}').code, 'unknown_type');
  assert.equal(violation('{"id":"x"}').code, 'unknown_type');
  assert.match(violation('{"type":"ping","id":42}').message, /id/);
});
