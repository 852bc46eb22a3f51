/**
 * cli/context — what every command receives: its arguments, output streams, environment and `--json` mode.
 *
 * Conventions (docs/errors.md): stdout carries only data; stderr carries `custody: error: <message> [<CODE>]` and
 * `custody: hint: …`; `--json` prints one JSON object on stdout (`{ "ok": true, … }` or the error's `toJSON()`).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from '../errors.ts';

export interface CliIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
  /** now is injectable so transcripts are reproducible. */
  now: () => Date;
  /** terminal is stderr when it is a terminal (progress bars are drawn there); absent otherwise. */
  terminal?: NodeJS.WriteStream | undefined;
}

export interface CommandContext extends CliIo {
  /** argv holds the arguments after the command words. */
  argv: string[];
  /** json is true when `--json` was given anywhere on the line. */
  json: boolean;
  /** print writes a line of human output (suppressed in --json mode). */
  print: (line: string) => void;
  /** result writes the JSON result (in --json mode) — call once. */
  result: (obj: Record<string, unknown>) => void;
}

/**
 * Command is one CLI verb. `run` returns the exit code (0 unless it throws a coded error); a verb that does only
 * synchronous work (reading and verifying a root) returns it directly.
 */
export interface Command {
  summary: string;
  /** usage is the full --help text: synopsis, options with defaults, examples. */
  usage: string;
  run: (ctx: CommandContext) => Promise<number> | number;
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** parseCommandArgs wraps node:util parseArgs and turns its errors into ERR_USAGE_ARGUMENT. */
export function parseCommandArgs<O extends Options>(
  argv: string[],
  options: O,
  allowPositionals = true,
): { values: { [K in keyof O]?: O[K]['type'] extends 'boolean' ? boolean : O[K]['multiple'] extends true ? string[] : string }; positionals: string[] } {
  try {
    const r = parseArgs({ args: argv, options: { ...options, json: { type: 'boolean' } }, allowPositionals, strict: true });
    return r;
  } catch (e) {
    throw new UsageError('ERR_USAGE_ARGUMENT', (e as Error).message.split('\n')[0]!.replace(/^./, (c) => c.toLowerCase()), {
      cause: e,
    });
  }
}

/** requireOption returns a string option or throws a usage error naming it. */
export function requireOption(value: string | undefined, flag: string): string {
  if (value === undefined || value === '') throw new UsageError('ERR_USAGE_ARGUMENT', `missing required option --${flag}`);
  return value;
}

/** intOption parses an optional decimal integer flag within [min, max] (no sign, no leading zeros). */
export function intOption(v: string | undefined, flag: string, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  if (!/^(0|[1-9][0-9]{0,15})$/.test(v) || Number(v) < min || Number(v) > max) {
    throw new UsageError('ERR_USAGE_ARGUMENT', `--${flag}: expected an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
  }
  return Number(v);
}
