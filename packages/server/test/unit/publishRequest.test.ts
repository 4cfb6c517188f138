import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePublish, publishSchema, resolveTarget } from '../../src/delivery/publishRequest.js';
import { ApiError } from '../../src/errors.js';

test('targets resolve to routes; tenant defaults to "default"', () => {
  assert.deepEqual(resolveTarget(parsePublish({ to: { user: 'a' }, data: 1 }).to), { kind: 'user', routes: [{ kind: 'user', tenant: 'default', user: 'a' }] });
  assert.deepEqual(resolveTarget(parsePublish({ to: { user: 'a', device: 'd', tenant: 't' }, data: 1 }).to).routes, [{ kind: 'user', tenant: 't', user: 'a', device: 'd' }]);
  assert.equal(resolveTarget(parsePublish({ to: { users: ['a', 'a', 'b'] }, data: 1 }).to).routes.length, 2);
  assert.deepEqual(resolveTarget(parsePublish({ to: { room: 'r' }, data: 1 }).to).routes, [{ kind: 'room', tenant: 'default', room: 'r' }]);
  assert.deepEqual(resolveTarget(parsePublish({ to: { tenant: 't' }, data: 1 }).to).routes, [{ kind: 'tenant', tenant: 't' }]);
  assert.deepEqual(resolveTarget(parsePublish({ to: { all: true }, data: null }).to).routes, [{ kind: 'all' }]);
});

test('errors name the field, with a prefix for batch items', () => {
  const field = (body: unknown, prefix = ''): string | undefined => {
    try {
      parsePublish(body, prefix);
    } catch (err) {
      assert.ok(err instanceof ApiError);
      assert.equal(err.status, 400);
      return err.field;
    }
    return undefined;
  };
  assert.equal(field({ to: { user: 'a' }, data: 1, ttl: 0 }), 'ttl');
  assert.equal(field({ to: { user: 'a' }, data: 1, event: '' }), 'event');
  assert.equal(field({ to: { users: [] }, data: 1 }), 'to.users');
  assert.equal(field({ to: { user: 'a' } }, 'messages.2.'), 'messages.2.data');
  assert.equal(field({ to: { user: 'a' }, data: 1, idempotency_key: 5 }), 'idempotency_key');
  assert.equal(field(null), 'body');
});

test('ids with control characters: the plain path refuses what the schema refuses, at every Cc boundary', () => {
  for (const c of [0x00, 0x1f, 0x20, 0x7e, 0x7f, 0x9f, 0xa0, 0xd800]) {
    for (const body of [{ to: { user: `a${String.fromCharCode(c)}b` }, data: 1 }, { to: { user: 'a' }, data: 1, event: `e${String.fromCharCode(c)}` }]) {
      const schema = publishSchema.safeParse(body).success;
      let plain = true;
      try {
        parsePublish(body);
      } catch {
        plain = false;
      }
      assert.equal(plain, schema, `U+${c.toString(16)}`);
    }
  }
});
