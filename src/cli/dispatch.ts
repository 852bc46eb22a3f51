/**
 * cli/dispatch — runs one `custody <command> …` line against a command table and maps outcomes to exit codes:
 * 0 ok, 1 verification or policy refusal (and malformed or oversized input), 2 usage or configuration error,
 * 3 I/O or network failure, 70 internal error (a bug: please report it). The table lives in src/errors.ts.
 *
 * The table is a parameter: cli/run passes the whole command table; a start-up bundle of one offline verifier
 * (cli/fast) passes a table of that one command, so it carries none of the others.
 */
import { printable } from '../encoding/text.ts';
import { ERROR_CODES, EXIT_CODES, isTrustError, toIoError, UsageError } from '../errors.ts';
import { CUSTODY_VERSION } from '../version.ts';
import type { CommandEntry } from './commands/index.ts';
import type { CliIo, CommandContext } from './context.ts';
import { commandWords } from './words.ts';

/** EXIT_INTERNAL is returned for an uncoded (programming) error, reported as ERR_INTERNAL. */
export const EXIT_INTERNAL = EXIT_CODES.internal;

function mainUsage(table: Readonly<Record<string, CommandEntry>>): string {
  const names = Object.keys(table).sort();
  const width = Math.max(...names.map((n) => n.length));
  return [
    'usage: custody <command> [options]',
    '',
    'commands:',
    ...names.map((n) => `  ${n.padEnd(width)}  ${table[n]!.summary}`),
    '',
    'Every command takes --help and --json. Exit codes: 0 ok, 1 refused, 2 usage/config, 3 i/o.',
  ].join('\n');
}

/** WRITING_SYSCALLS: a failed system call of these is a failed write (ERR_IO_WRITE_FAILED); any other, a read. */
const WRITING_SYSCALLS: ReadonlySet<string> = new Set(['write', 'writev', 'fsync', 'fdatasync', 'ftruncate', 'rename', 'mkdir', 'mkdtemp', 'rmdir', 'unlink', 'link', 'symlink', 'copyfile', 'chmod', 'fchmod', 'utime', 'futime']);

/**
 * systemError gives the coded I/O error of a failed system call that reached the CLI uncoded (an EIO from a disk in
 * the middle of a read, where the code that read did not convert it): the operating system refused an operation,
 * which is an I/O failure (exit 3), not a bug in custody. Anything else is left as it is.
 */
function systemError(e: unknown): unknown {
  if (!(e instanceof Error)) return e;
  const { code, syscall, path } = e as NodeJS.ErrnoException;
  if (typeof code !== 'string' || !/^E[A-Z0-9]+$/.test(code) || typeof syscall !== 'string') return e;
  return toIoError(e, typeof path === 'string' ? path : `a file (${syscall})`, WRITING_SYSCALLS.has(syscall) ? 'write' : 'read');
}

/**
 * reportError prints a refusal as every command does (`custody: error: … [CODE]`, `custody: hint: …`, and the
 * error's JSON on stdout with --json) and returns its exit code; a failed system call is a coded I/O error (exit 3);
 * any other uncoded error is ERR_INTERNAL, exit 70.
 */
export function reportError(thrown: unknown, io: Pick<CliIo, 'stdout' | 'stderr'>, json: boolean): number {
  const e = systemError(thrown);
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
  io.stderr(`custody: error: internal error: ${printable(msg, 2000)} [ERR_INTERNAL]\n`);
  io.stderr(`custody: hint: ${hint}\n`);
  return EXIT_INTERNAL;
}

/** runCommandLine runs one command line against table and returns its exit code; output goes through io. */
export async function runCommandLine(argv: string[], io: CliIo, table: Readonly<Record<string, CommandEntry>>): Promise<number> {
  const json = argv.includes('--json');
  // Own properties only: `custody constructor` or `custody __proto__` must be unknown commands, not Object's.
  const { name, words } = commandWords(argv, (n) => Object.hasOwn(table, n));
  if (argv.length === 0 || name === 'help' || (name === '' && (argv.includes('--help') || argv.includes('-h')))) {
    io.stdout(mainUsage(table) + '\n');
    return argv.length === 0 ? 2 : 0;
  }
  if (name === '' && argv.includes('--version')) {
    io.stdout(`custody ${CUSTODY_VERSION}\n`);
    return 0;
  }
  const entry = Object.hasOwn(table, name) ? table[name] : undefined;
  if (!entry) {
    return reportError(new UsageError('ERR_USAGE_UNKNOWN_COMMAND', `unknown command ${JSON.stringify(words[0] ?? argv[0])}`), io, json);
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
    return reportError(e, io, json);
  }
}
