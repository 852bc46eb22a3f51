#!/usr/bin/env node
/**
 * cli/main — the `custody` executable. Everything happens in runCli; this file only binds the process.
 */
import { runCli } from './run.ts';

const code = await runCli(process.argv.slice(2), {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
  env: process.env,
  cwd: process.cwd(),
  now: () => new Date(),
  terminal: process.stderr.isTTY ? process.stderr : undefined,
});
process.exitCode = code;
