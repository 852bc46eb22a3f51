#!/usr/bin/env node
/**
 * cli/main — the `custody` program as ES modules: the development entry (`npm start`, tsx) and, built, what the
 * launcher (cli/fast/launcher, the package's bin) runs for every command that has no start-up bundle. Everything
 * happens in cli/dispatch; this file only binds the process. Output goes to descriptors 1 and 2 through cli/stdio
 * (write(2); process.stdout/stderr are built only if a write fails or stderr is a terminal), which keeps Node's
 * streams stack out of a short command's start-up.
 */
import { COMMANDS } from './commands/index.ts';
import { runCommandLine } from './dispatch.ts';
import { processIo } from './stdio.ts';

// cli/run's runCli, without its module: every module counts in a short command's start-up.
process.exitCode = await runCommandLine(process.argv.slice(2), processIo(), COMMANDS);
