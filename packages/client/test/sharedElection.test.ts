/**
 * Leader election without Web Locks (the BroadcastChannel fallback), with
 * Node's BroadcastChannel standing in for tabs: exactly one leader, and
 * another takes over when it resigns.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { waitUntil } from '@herald/testkit';
import { Election, type ChannelConstructor } from '../src/shared/leader.js';

test('three candidates elect one leader; when it resigns another takes over', async () => {
  const Channel = BroadcastChannel as unknown as ChannelConstructor;
  const key = `herald:test:${process.pid}:${Date.now()}`;
  const tabs = ['b', 'c', 'a'].map((id) => new Election(key, id, Channel, undefined));
  try {
    await waitUntil(() => (tabs.filter((t) => t.leader).length === 1 ? true : undefined), 5000, 'one leader');
    // Let a few heartbeats pass: still exactly one.
    const t0 = Date.now();
    await waitUntil(() => (Date.now() - t0 > 1500 ? true : undefined), 3000, 'heartbeats');
    assert.equal(tabs.filter((t) => t.leader).length, 1);
    const leader = tabs.find((t) => t.leader)!;
    leader.resign();
    const rest = tabs.filter((t) => t !== leader);
    await waitUntil(() => (rest.filter((t) => t.leader).length === 1 ? true : undefined), 8000, 'a new leader');
  } finally {
    for (const t of tabs) t.resign();
  }
});
