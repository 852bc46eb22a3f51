/**
 * cli/run — dispatches `custody <command> …` to the registered command and maps outcomes to exit codes:
 * 0 ok, 1 verification or policy refusal (and malformed or oversized input), 2 usage or configuration error,
 * 3 I/O or network failure, 70 internal error (a bug: please report it). The table lives in src/errors.ts.
 */
import { printable } from '../encoding/text.ts';
import { ERROR_CODES, EXIT_CODES, isTrustError, UsageError } from '../errors.ts';
import { CUSTODY_VERSION } from '../version.ts';
import type { CliIo, CommandContext } from './context.ts';
import { COMMANDS } from './commands/index.ts';

/** EXIT_INTERNAL is returned for an uncoded (programming) error, reported as ERR_INTERNAL. */
export const EXIT_INTERNAL = EXIT_CODES.internal;

function mainUsage(): string {
  const names = Object.keys(COMMANDS).sort();
  const width = Math.max(...names.map((n) => n.length));
  return [
    'usage: custody <command> [options]',
    '',
    'commands:',
    ...names.map((n) => `  ${n.padEnd(width)}  ${COMMANDS[n]!.summary}`),
    '',
    'Every command takes --help and --json. Exit codes: 0 ok, 1 refused, 2 usage/config, 3 i/o.',
  ].join('\n');
}

/** runCli runs one command line and returns its exit code; output goes through io. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const json = argv.includes('--json');
  let words = argv.filter((a) => !a.startsWith('-')).slice(0, 2);
  let name = words.join(' ');
  if (!COMMANDS[name]) {
    words = words.slice(0, 1);
    name = words[0] ?? '';
  }
  const emitError = (e: unknown): number => {
    if (isTrustError(e)) {
      if (json) io.stdout(JSON.stringify(e.toJSON()) + '\n');
      // Messages may carry text relayed from a server: control characters are printed escaped.
      io.stderr(`custody: error: ${printable(e.message, 2000)} [${e.code}]\n`);
      io.stderr(`custody: hint: ${printable(e.hint, 2000)}\n`);
      return e.exitCode;
    }
    const msg = e instanceof Error ? e.message : String(e);
    const hint = ERROR_CODES.ERR_INTERNAL[2];
    if (json) io.stdout(JSON.stringify({ ok: false, code: 'ERR_INTERNAL', message: msg, hint }) + '\n');
    io.stderr(`custody: error: internal error: ${msg} [ERR_INTERNAL]\n`);
    io.stderr(`custody: hint: ${hint}\n`);
    return EXIT_INTERNAL;
  };
  if (argv.length === 0 || name === 'help' || (name === '' && (argv.includes('--help') || argv.includes('-h')))) {
    io.stdout(mainUsage() + '\n');
    return argv.length === 0 ? 2 : 0;
  }
  if (name === '' && argv.includes('--version')) {
    io.stdout(`custody ${CUSTODY_VERSION}\n`);
    return 0;
  }
  const entry = COMMANDS[name];
  if (!entry) {
    return emitError(new UsageError('ERR_USAGE_UNKNOWN_COMMAND', `unknown command ${JSON.stringify(words[0] ?? argv[0])}`));
  }
  const cmd = await entry.load();
  // Remove exactly the command words (first occurrences) from argv, keep everything else in order.
  const rest = [...argv];
  for (const w of words) rest.splice(rest.indexOf(w), 1);
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout(cmd.usage.trimEnd() + '\n');
    return 0;
  }
  let wroteResult = false;
  const ctx: CommandContext = {
    ...io,
    argv: rest,
    json,
    print: (line) => {
      if (!json) io.stdout(line + '\n');
    },
    result: (obj) => {
      if (json && !wroteResult) {
        wroteResult = true;
        io.stdout(JSON.stringify({ ok: true, ...obj }) + '\n');
      }
    },
  };
  try {
    return await cmd.run(ctx);
  } catch (e) {
    return emitError(e);
  }
}
