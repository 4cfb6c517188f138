/** Per-tenant feature switches (tenantOverrides.<t>.features): a feature off for one tenant, on for the others. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CloseCode } from '@herald/protocol';
import { connect, nodeFactory, token } from '../helpers/harness.js';
import { connectV2, openV2 } from '../protocol/v2Client.js';

const node = nodeFactory();
const overrides = { slow: { features: { binaryProtocol: false, roomPresenceEvents: false } } };

test('binaryProtocol off: the tenant\'s v2 connections are closed 4003; other tenants connect', async () => {
  const n = await node({ tenantOverrides: overrides });
  const refused = openV2(n, { token: await token('ann', { tenant: 'slow' }) });
  const info = await refused.waitClosed(5000);
  assert.equal(info.code, CloseCode.Forbidden);
  assert.match(info.reason, /binary protocol is off/);
  const ok = await connectV2(n, 'bob', { tenant: 'fast' });
  assert.equal(ok.closed, undefined);
  ok.close();
  const v1 = await connect(n, 'ann', { tenant: 'slow' });
  assert.equal(v1.closed, undefined, 'v1 still works for the tenant');
  v1.close();
});

test('roomPresenceEvents off: no join events in the tenant\'s rooms; on elsewhere', async () => {
  const n = await node({ tenantOverrides: overrides });
  for (const tenant of ['slow', 'fast']) {
    const a = await connect(n, 'a', { tenant });
    await a.request({ type: 'join', room: 'r' });
    const b = await connect(n, 'b', { tenant });
    await b.request({ type: 'join', room: 'r' });
    // A round trip after b's join: a join event, if any, was sent before this pong.
    a.send({ type: 'ping' });
    await a.waitFor((f) => f.type === 'pong', 5000);
    const joins = a.frames.filter((f) => f.type === 'join' && f.user === 'b');
    assert.equal(joins.length, tenant === 'slow' ? 0 : 1, tenant);
    a.close();
    b.close();
  }
});
