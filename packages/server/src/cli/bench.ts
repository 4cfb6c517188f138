/**
 * `herald bench`: runs the load generator of the optional @herald/bench
 * package. It is a workspace of the repository and not published, so an
 * installed server usually lacks it: say so in one line instead of a stack.
 */
export async function benchCommand(args: string[], spec = '@herald/bench'): Promise<number> {
  let mod: { runBenchCli(argv: string[]): Promise<number> };
  try {
    mod = (await import(spec)) as typeof mod;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    // Only the bench package itself missing; a broken bench install still throws in full.
    if ((e.code === 'ERR_MODULE_NOT_FOUND' || e.code === 'MODULE_NOT_FOUND') && String(e.message).includes(`'${spec}'`)) {
      process.stderr.write(`herald bench: the benchmark package ${spec} is not installed; run it from a clone of the Herald repository (npm run bench)\n`);
      return 2;
    }
    throw err;
  }
  return mod.runBenchCli(args);
}
