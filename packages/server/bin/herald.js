#!/usr/bin/env node
// Entry point of the `herald` command; the CLI itself is compiled TypeScript.
import { main } from '../dist/cli/main.js';

const code = await main(process.argv.slice(2));
// A failure (e.g. a start-up step that threw after the engine or a source had connected) must end
// the process: the connections it opened would otherwise keep it alive, serving nothing.
if (code !== 0) process.exit(code);
process.exitCode = code;
