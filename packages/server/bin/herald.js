#!/usr/bin/env node
// Entry point of the `herald` command; the CLI itself is compiled TypeScript.
import { main } from '../dist/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
