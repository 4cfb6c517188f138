/**
 * The scripted exchanges most fake-server tests open with or repeat: a client
 * registered for teardown, its connection accepted until it reports
 * `connected`, a request answered ok, a room joined, messages delivered and
 * acked. Each waits on frames or events with a deadline, never on time.
 */
import type { HeraldClient, HeraldClientOptions } from '../../src/index.js';
import type { FakeConn, FakeServer, Frame } from './fakeServer.js';
import { makeClient } from './setup.js';
import { waitForEvent } from './wait.js';

/** `makeClient(server, options)`, added to `clients` so that `withServer` closes it. */
export function addClient(server: FakeServer, clients: HeraldClient[], options: Partial<HeraldClientOptions> = {}): HeraldClient {
  const client = makeClient(server, options);
  clients.push(client);
  return client;
}

/** The client's next connection, accepted with `welcome`, once the client has emitted `connected`. */
export async function acceptNext(server: FakeServer, client: HeraldClient, welcome: Partial<Frame> = {}): Promise<FakeConn> {
  const conn = await server.nextConnection();
  await conn.accept(welcome);
  await waitForEvent(client, 'connected');
  return conn;
}

/** Starts `client` (its connect() promise is left to settle on its own) and accepts its first connection. */
export function connectClient(server: FakeServer, client: HeraldClient, welcome: Partial<Frame> = {}): Promise<FakeConn> {
  void client.connect();
  return acceptNext(server, client, welcome);
}

/** Answers the request `frame` with `{ type: 'reply', id, ok: true, ...extra }`. */
export function replyOk(conn: FakeConn, frame: Frame, extra: object = {}): void {
  conn.send({ type: 'reply', id: frame.id, ok: true, ...extra });
}

/** `client.join(room)`, the join frame answered ok, resolved. */
export async function joinOk(conn: FakeConn, client: HeraldClient, room: string): Promise<void> {
  const joined = client.join(room);
  replyOk(conn, await conn.next('join'));
  await joined;
}

/** Sends a message per seq and waits until the client has acked the last one. */
export async function deliverAcked(conn: FakeConn, ...seqs: number[]): Promise<void> {
  for (const seq of seqs) conn.message(seq);
  await conn.next('ack', (f) => f.seq === seqs.at(-1));
}
