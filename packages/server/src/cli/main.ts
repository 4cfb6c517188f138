/**
 * The `herald` command: serve, token, publish, bench.
 * Every config key is also a `serve` flag (--kebab-case), documented in
 * docs/configuration.md.
 */
import { Command, Option, CommanderError } from 'commander';
import { CONFIG_KEYS, type HeraldConfigInput } from '../config/schema.js';
import { flagName, envName } from '../config/names.js';
import { mintToken, parseDurationSec } from '../auth/tokens.js';
import { serve } from './serve.js';
import { publishCommand } from './publish.js';
import { benchCommand } from './bench.js';

function camel(flag: string): string {
  return flag.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
}

export async function main(argv: string[]): Promise<number> {
  const program = new Command('herald')
    .description('Herald: a real-time push gateway. Devices connect over WebSocket; your backend publishes over HTTP.')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    .showHelpAfterError();
  let exit = 0;

  const serveCmd = program
    .command('serve', { isDefault: true })
    .description('start a node (memory engine on port 8080 unless configured)')
    .option('-c, --config <file>', 'JSON config file (also HERALD_CONFIG)')
    .option('-w, --workers <n>', 'run N worker processes sharing the port (needs --engine redis)', (v) => Number(v));
  for (const [key, spec] of Object.entries(CONFIG_KEYS)) {
    serveCmd.addOption(new Option(`--${flagName(key)} <value>`, `${spec.doc} [${envName(key)}]`));
  }
  serveCmd.action(async (opts: Record<string, unknown>) => {
    const overrides: Record<string, unknown> = {};
    for (const key of Object.keys(CONFIG_KEYS)) {
      const v = opts[camel(flagName(key))];
      if (v !== undefined) overrides[key] = v;
    }
    exit = await serve({
      overrides: overrides as HeraldConfigInput,
      ...(typeof opts.config === 'string' ? { config: opts.config } : {}),
      ...(typeof opts.workers === 'number' ? { workers: opts.workers } : {}),
    });
  });

  program
    .command('token')
    .description('print a device JWT signed with HERALD_JWT_SECRET (HS256)')
    .requiredOption('--sub <user>', 'user id (claim sub)')
    .option('--tenant <tenant>', 'tenant (claim tid; default "default")')
    .option('--device <device>', 'device id the token is bound to (claim did)')
    .option('--rooms <list>', 'comma-separated room allow-list; "prefix*" allows a prefix (claim rooms)')
    .option('--ttl <duration>', 'lifetime: 30s, 15m, 1h, 7d', '1h')
    .option('--secret <secret>', 'signing secret (default: HERALD_JWT_SECRET)')
    .addHelpText('after', '\nExample:\n  HERALD_JWT_SECRET=change-me-to-a-long-secret herald token --sub alice --device phone --ttl 2h\n')
    .action(async (o: { sub: string; tenant?: string; device?: string; rooms?: string; ttl: string; secret?: string }) => {
      const secret = o.secret ?? process.env.HERALD_JWT_SECRET;
      if (!secret) {
        process.stderr.write('herald token: set HERALD_JWT_SECRET (or pass --secret); dev-mode servers print a ready token at start instead\n');
        exit = 2;
        return;
      }
      const token = await mintToken({
        secret,
        sub: o.sub,
        ttlSec: parseDurationSec(o.ttl),
        ...(o.tenant ? { tenant: o.tenant } : {}),
        ...(o.device ? { device: o.device } : {}),
        ...(o.rooms ? { rooms: o.rooms.split(',').map((s) => s.trim()).filter(Boolean) } : {}),
        ...(process.env.HERALD_JWT_ISSUER ? { issuer: process.env.HERALD_JWT_ISSUER } : {}),
        ...(process.env.HERALD_JWT_AUDIENCE ? { audience: process.env.HERALD_JWT_AUDIENCE } : {}),
      });
      process.stdout.write(token + '\n');
    });

  program
    .command('publish')
    .description('publish a message through a running node\'s HTTP API')
    .option('--user <user>', 'to one user (all devices)')
    .option('--device <device>', 'with --user: to one device of the user')
    .option('--users <list>', 'to several users (comma-separated)')
    .option('--room <room>', 'to a room')
    .option('--tenant <tenant>', 'tenant of the user/room, or alone: to the whole tenant')
    .option('--all', 'to everyone')
    .requiredOption('--data <json>', 'the message: JSON (a bare word is sent as a string)')
    .option('--event <name>', 'event name')
    .option('--unreliable', 'fire-and-forget for user targets (no inbox, no ack)')
    .option('--ttl <seconds>', 'expire the reliable message after this many seconds', (v) => Number(v))
    .option('--idempotency-key <key>', 'repeat-safe key (5 minutes)')
    .option('--url <url>', 'node URL', process.env.HERALD_URL ?? 'http://127.0.0.1:8080')
    .option('--api-key <key>', 'API key (default: HERALD_API_KEY)')
    .addHelpText('after', '\nExamples:\n  herald publish --user alice --data \'{"text":"hi"}\'\n  herald publish --room lobby --data \'"hello room"\'\n')
    .action(async (o: Record<string, unknown>) => {
      exit = await publishCommand(o);
    });

  program
    .command('bench')
    .description('load generator and side-by-side benchmarks (see docs/benchmarks.md)')
    .allowUnknownOption()
    .helpOption(false)
    .argument('[args...]')
    .action(async (args: string[]) => {
      exit = await benchCommand(args);
    });

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    process.stderr.write(`herald: ${(err as Error).message}\n`);
    return 1;
  }
  return exit;
}
