import { WebSocket } from 'ws';
import { HeraldClient, memoryStore, type HeraldClientOptions } from '../../src/binary.js';
import { FakeServer } from './fakeServer.js';

/** A client wired to `server` with fast, deterministic retry timing (jitter pinned to 0). */
export function makeClient(server: FakeServer, options: Partial<HeraldClientOptions> = {}): HeraldClient {
  return new HeraldClient({
    url: server.url,
    token: 'tok-1',
    WebSocket,
    store: memoryStore(),
    random: () => 0,
    minReconnectDelayMs: 1,
    maxReconnectDelayMs: 10,
    ...options,
  });
}

/** Starts a fake server and tears it and the given clients down after the test. */
export async function withServer(fn: (server: FakeServer, clients: HeraldClient[]) => Promise<void>): Promise<void> {
  const server = await FakeServer.start();
  const clients: HeraldClient[] = [];
  try {
    await fn(server, clients);
  } finally {
    for (const c of clients) c.close();
    await server.close();
  }
}
