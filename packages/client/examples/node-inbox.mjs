// A Node.js device that prints what Herald pushes to it and says hello in a room.
//
//   HERALD_URL=ws://localhost:8080/ws HERALD_TOKEN=<jwt> node packages/client/examples/node-inbox.mjs
//
// Node 20 has no global WebSocket, so the `ws` package is passed in.
import { WebSocket } from 'ws';
import { HeraldClient } from '@herald/client';

const client = new HeraldClient({
  url: process.env.HERALD_URL ?? 'ws://localhost:8080/ws',
  token: process.env.HERALD_TOKEN,
  device: 'node-example',
  WebSocket,
});

client.on('state', ({ state }) => console.log(`state: ${state}`));
client.on('message', (m) => console.log(`message seq=${m.seq ?? '-'} room=${m.room ?? '-'} data=${JSON.stringify(m.data)}`));
client.on('unrecovered', () => console.log('the server could not replay everything: reload from your database'));
client.on('error', (e) => console.error(`error ${e.code}: ${e.message}`));
client.on('closed', ({ code, error }) => console.log(`stopped (${code}) ${error?.message ?? ''}`));

const welcome = await client.connect();
console.log(`connected as ${welcome.user}/${welcome.device}, resuming after seq ${welcome.last_seq}`);
await client.join('lobby');
await client.publish('lobby', { text: 'hello from Node' });

process.on('SIGINT', () => client.close());
process.on('SIGTERM', () => client.close());
