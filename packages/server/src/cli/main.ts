/**
 * The `herald` command: serve, token, publish, config, bench.
 * Every config key is also a `serve` flag (--kebab-case), documented in
 * docs/configuration.md.
 *
 * Errors print one line and a hint to the command's --help (never the whole
 * help) and exit 2; a mistyped subcommand is named with its nearest match.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { CONFIG_KEYS } from '../config/schema.js';
import { mintToken, parseDurationSec } from '../auth/tokens.js';
import { serve } from './serve.js';
import { publishCommand } from './publish.js';
import { addConfigOptions, configOverrides } from './configOptions.js';
import { configCheck, configInit } from './configCommand.js';
import { nearest } from './suggest.js';
import { benchCommand } from './bench.js';

/** The server package's version (src/cli and dist/cli are both two levels below it). */
export const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** commander's "error: X\n(Did you mean Y?)" as one line: "herald: X. Did you mean Y?" */
function oneLine(message: string): string {
  return message
    .trim()
    .replace(/^error: /, 'herald: ')
    .replace(/\s*\n\(Did you mean (.+)\?\)$/, '. Did you mean $1?') + '\n';
}

function hint(cmd: Command): void {
  const path: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) path.unshift(c.name());
  cmd.showHelpAfterError(`Run '${path.join(' ')} --help' for usage.`);
  for (const sub of cmd.commands) hint(sub);
}

export async function main(argv: string[]): Promise<number> {
  const program = new Command('herald')
    .description('Herald: a real-time push gateway. Devices connect over WebSocket; your backend publishes over HTTP.')
    .version(VERSION, '-v, --version', 'print the version')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s), outputError: (s, write) => write(oneLine(s)) });
  let exit = 0;

  const serveCmd = program
    .command('serve', { isDefault: true })
    .description('start a node (memory engine on port 8080 unless configured)')
    .option('-w, --workers <n>', 'run N worker processes sharing the port (needs --engine redis)', (v) => Number(v));
  addConfigOptions(serveCmd);
  serveCmd.action(async (opts: Record<string, unknown>) => {
    exit = await serve({
      overrides: configOverrides(opts),
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
      // The same rule as the server's: a token signed with a secret it refuses would never verify.
      const checked = CONFIG_KEYS.jwtSecret.type.safeParse(secret);
      if (!checked.success) {
        process.stderr.write(`herald token: the secret is too weak: ${checked.error.issues[0]?.message ?? 'invalid'} (the server requires the same of HERALD_JWT_SECRET)\n`);
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
    .option('--url <url>', 'node URL [HERALD_URL]', process.env.HERALD_URL ?? 'http://127.0.0.1:8080')
    .option('--api-key <key>', 'API key (default: HERALD_API_KEY)')
    .addHelpText('after', '\nExamples:\n  herald publish --user alice --data \'{"text":"hi"}\'\n  herald publish --room lobby --data \'"hello room"\'\n')
    .action(async (o: Record<string, unknown>) => {
      exit = await publishCommand(o);
    });

  const configCmd = program.command('config').description('check a configuration, or write a commented starter file');
  addConfigOptions(
    configCmd
      .command('check')
      .description('validate a config file, HERALD_* variables and flags as `serve` would; print the effective configuration (secrets masked); exit 2 on errors'),
  ).action((opts: Record<string, unknown>) => {
    exit = configCheck({ overrides: configOverrides(opts), ...(typeof opts.config === 'string' ? { config: opts.config } : {}) });
  });
  configCmd
    .command('init')
    .description('print a commented starter config file (JSON with // comments), or write it with --output')
    .option('-o, --output <file>', 'write the file here instead of printing it')
    .option('--force', 'overwrite an existing file')
    .action((o: { output?: string; force?: boolean }) => {
      exit = configInit(o);
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

  hint(program);
  // serve is the default command, so commander would read a mistyped command as an argument of
  // serve ("too many arguments for 'serve'"): name the nearest command instead.
  const first = argv[0];
  const names = program.commands.flatMap((c) => [c.name(), ...c.aliases()]);
  if (first !== undefined && !first.startsWith('-') && first !== 'help' && !names.includes(first)) {
    const near = nearest(first, names);
    process.stderr.write(`herald: unknown command '${first}'.${near ? ` Did you mean '${near}'?` : ''}\nRun 'herald --help' for the commands.\n`);
    return 2;
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    process.stderr.write(`herald: ${(err as Error).message}\n`);
    return 1;
  }
  return exit;
}
