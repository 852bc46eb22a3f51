/**
 * test/support/cli — run the CLI in-process (fast transcripts) or as a real child process (end to end).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { runCli } from '../../src/cli/run.ts';

export interface Transcript {
  code: number;
  stdout: string;
  stderr: string;
}

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLI_MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
/** TSX_LOADER is resolved from the repository, so children run from any cwd. */
export const TSX_LOADER = import.meta.resolve('tsx');

/** cli runs `custody …argv` in-process with cwd and env; `now` pins the clock. */
export async function cli(
  argv: string[],
  opts: { cwd: string; env?: Record<string, string | undefined>; now?: Date },
): Promise<Transcript> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, {
    stdout: (s) => (stdout += s),
    stderr: (s) => (stderr += s),
    env: opts.env ?? {},
    cwd: opts.cwd,
    now: () => opts.now ?? new Date(),
  });
  return { code, stdout, stderr };
}

/**
 * spawnCli runs the real executable (node --import tsx src/cli/main.ts) as a user would; `program` runs another
 * entry (a built bin), `tsx: false` without the TypeScript loader.
 */
export function spawnCli(
  argv: string[],
  opts: { cwd: string; env?: Record<string, string | undefined>; input?: string; program?: string; tsx?: boolean },
): Promise<Transcript> {
  return new Promise((resolve, reject) => {
    const loader = opts.tsx === false ? [] : ['--import', TSX_LOADER];
    const child = spawn(process.execPath, [...loader, opts.program ?? CLI_MAIN, ...argv], {
      cwd: opts.cwd,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(opts.input ?? '');
  });
}
