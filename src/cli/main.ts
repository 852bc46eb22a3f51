#!/usr/bin/env node
/**
 * cli/main — the `custody` executable. Everything happens in runCli; this file only binds the process. Output goes
 * to descriptors 1 and 2 through cli/stdio (write(2); process.stdout/stderr are built only if a write fails or
 * stderr is a terminal), which keeps Node's streams stack out of a short command's start-up.
 */
import { runCli } from './run.ts';
import { fdWriter, terminalOf } from './stdio.ts';

const code = await runCli(process.argv.slice(2), {
  stdout: fdWriter(1, () => process.stdout),
  stderr: fdWriter(2, () => process.stderr),
  env: process.env,
  cwd: process.cwd(),
  now: () => new Date(),
  terminal: terminalOf(2, () => process.stderr),
});
process.exitCode = code;
