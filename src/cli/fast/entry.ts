/**
 * cli/fast/entry — what a start-up bundle exports to the launcher: `run(argv)` runs its one command through the
 * dispatcher exactly as the whole CLI would (same parsing, --help, --json, exit codes; process.exitCode is set),
 * and `fail(e, argv)` reports an error that escaped it (or a command that never settled) as ERR_INTERNAL.
 * Nothing runs when the bundle is evaluated: the process's I/O is bound at the first call.
 */
import type { Command } from '../context.ts';
import { reportError, runCommandLine } from '../dispatch.ts';
import { processIo } from '../stdio.ts';

/** FastEntry is the interface of a bundle's module.exports. */
export interface FastEntry {
  run: (argv: string[]) => Promise<void>;
  fail: (e: unknown, argv: string[]) => void;
}

/** fastEntry makes the exports of the bundle of command `name`. */
export function fastEntry(name: string, command: Command): FastEntry {
  let io: ReturnType<typeof processIo> | undefined;
  const bind = (): ReturnType<typeof processIo> => (io ??= processIo());
  return {
    run: async (argv) => {
      const table = { [name]: { summary: command.summary, load: () => Promise.resolve(command) } };
      process.exitCode = await runCommandLine(argv, bind(), table);
    },
    fail: (e, argv) => {
      process.exitCode = reportError(e, bind(), argv.includes('--json'));
    },
  };
}
