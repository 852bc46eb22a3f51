/**
 * cli/run — runs `custody <command> …` against the whole command table (cli/commands); cli/dispatch does the
 * work and documents the exit codes.
 */
import type { CliIo } from './context.ts';
import { COMMANDS } from './commands/index.ts';
import { runCommandLine } from './dispatch.ts';

export { EXIT_INTERNAL } from './dispatch.ts';

/** runCli runs one command line and returns its exit code; output goes through io. */
export function runCli(argv: string[], io: CliIo): Promise<number> {
  return runCommandLine(argv, io, COMMANDS);
}
