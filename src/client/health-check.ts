/**
 * client/health-check — the `--check` command of `custody install`: split into argv without a shell, run with the
 * new release active, killed with its whole process group at the timeout (docs/install.md "Health check").
 *
 * Quoting (a small subset of POSIX sh §2.2, nothing else): words are separated by spaces or tabs; inside '…'
 * every character is literal; inside "…" a backslash escapes only " and \; outside quotes a backslash makes the next
 * character literal. There is no variable expansion, globbing, redirection, pipe or `;` — those characters are
 * ordinary word characters. Wrap the command in `sh -c '…'` to get a shell on purpose.
 */
import { spawn } from 'node:child_process';
import { UsageError } from '../errors.ts';

/** CHECK_COMMAND_MAX_CHARS bounds a --check command line. */
export const CHECK_COMMAND_MAX_CHARS = 8192;

/** splitCommand turns a command line into argv by the quoting rules above, or throws ERR_USAGE_ARGUMENT. */
export function splitCommand(line: string): string[] {
  if (line.length > CHECK_COMMAND_MAX_CHARS) throw new UsageError('ERR_USAGE_ARGUMENT', `--check: expected at most ${CHECK_COMMAND_MAX_CHARS} characters`);
  const argv: string[] = [];
  let word = '';
  let inWord = false;
  let i = 0;
  while (i < line.length) {
    const c = line[i]!;
    if (c === ' ' || c === '\t') {
      if (inWord) argv.push(word);
      word = '';
      inWord = false;
      i++;
    } else if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new UsageError('ERR_USAGE_ARGUMENT', `--check: unterminated ' quote at character ${i + 1}`);
      word += line.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (c === '"') {
      i++;
      for (;;) {
        if (i >= line.length) throw new UsageError('ERR_USAGE_ARGUMENT', '--check: unterminated " quote');
        const d = line[i]!;
        if (d === '"') break;
        if (d === '\\' && (line[i + 1] === '"' || line[i + 1] === '\\')) {
          word += line[i + 1];
          i += 2;
        } else {
          word += d;
          i++;
        }
      }
      inWord = true;
      i++;
    } else if (c === '\\') {
      if (i + 1 >= line.length) throw new UsageError('ERR_USAGE_ARGUMENT', '--check: a backslash ends the command');
      word += line[i + 1];
      inWord = true;
      i += 2;
    } else {
      word += c;
      inWord = true;
      i++;
    }
  }
  if (inWord) argv.push(word);
  if (argv.length === 0) throw new UsageError('ERR_USAGE_ARGUMENT', '--check: expected a command');
  return argv;
}

/** CheckOutcome says how the check ended. */
export interface CheckOutcome {
  ok: boolean;
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  /** spawnError names why the command could not start (ENOENT, EACCES), if it could not. */
  spawnError?: string;
}

/** KILL_GRACE_MS: at the timeout the group gets SIGTERM, then SIGKILL this much later. */
const KILL_GRACE_MS = 2000;

/**
 * runCheck runs argv in its own process group (cwd `cwd`, environment `env`), forwards its output to `output`, and
 * at `timeoutMs` signals the whole group (SIGTERM, then SIGKILL) so that children it started go too.
 */
export function runCheck(argv: readonly string[], o: { cwd: string; env: Record<string, string | undefined>; timeoutMs: number; output: (s: string) => void }): Promise<CheckOutcome> {
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { cwd: o.cwd, env: o.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let timedOut = false;
    let killTimer: NodeJS.Timeout | undefined;
    const group = (sig: NodeJS.Signals): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, sig);
      } catch {
        /* the group is gone */
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      group('SIGTERM');
      killTimer = setTimeout(() => group('SIGKILL'), KILL_GRACE_MS);
    }, o.timeoutMs);
    child.stdout.on('data', (d: Buffer) => o.output(d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => o.output(d.toString('utf8')));
    let done = false;
    const finish = (r: CheckOutcome): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (killTimer !== undefined) clearTimeout(killTimer);
      // A grandchild that kept the pipes open must not keep us waiting once the check itself has ended.
      child.stdout.destroy();
      child.stderr.destroy();
      if (timedOut) group('SIGKILL');
      resolve(r);
    };
    child.on('error', (e: NodeJS.ErrnoException) => finish({ ok: false, exitCode: null, signal: null, timedOut: false, spawnError: e.code ?? e.message }));
    child.on('exit', (code, signal) => finish({ ok: !timedOut && code === 0, exitCode: code, signal, timedOut }));
  });
}

