/**
 * bench/start-ceiling — starts bench/http-ceiling (the bare node:http ceiling) for a section's turn: on `port`,
 * serving `what` (a file, or `--ed25519-verify`), resolved once every worker listens; `stop` ends it.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CEILING = fileURLToPath(new URL('./http-ceiling.ts', import.meta.url));
const REPO = fileURLToPath(new URL('../', import.meta.url));

export async function startCeiling(port: number, what: string): Promise<{ pid: number; stop: () => void }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', CEILING, String(port), what], { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    proc.stdout.on('data', (d: Buffer) => {
      if (d.toString().includes('listening')) resolve();
    });
    proc.once('exit', (code) => reject(new Error(`bench/http-ceiling exited (${code})`)));
  });
  return { pid: proc.pid!, stop: () => proc.kill('SIGTERM') };
}
