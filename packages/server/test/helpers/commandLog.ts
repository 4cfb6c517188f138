/** Records the name of every command a Redis client sends from now on (round-trip and script tests). */
import type { Redis } from 'ioredis';

export function recordCommandNames(client: Redis): string[] {
  const sent: string[] = [];
  const send = client.sendCommand.bind(client);
  client.sendCommand = ((cmd: { name: string }, ...rest: unknown[]) => {
    sent.push(cmd.name);
    return (send as (...a: unknown[]) => unknown)(cmd, ...rest);
  }) as typeof client.sendCommand;
  return sent;
}
