/**
 * bench/serve-json — starts `custody serve … --json` as a child (rate limits off, quiet logs) and resolves with the
 * first line it prints (the JSON banner), for the provider sections.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../', import.meta.url));

/** ServeBanner is what the sections read of `custody serve --json`'s first line. */
export interface ServeBanner {
  url: string;
  trust_fingerprint: string;
  log_vkey: string;
  workers: number[];
}

export interface ServedChild {
  proc: ChildProcess;
  banner: ServeBanner;
  /** stop sends SIGTERM and waits for the exit. */
  stop: () => Promise<void>;
}

/** serveJson runs `node …cli serve --data DIR …extra` where `cli` is e.g. ['--import', 'tsx', 'src/cli/main.ts']. */
export function serveJson(cli: readonly string[], dataDir: string, extra: readonly string[] = []): Promise<ServedChild> {
  const proc = spawn(
    process.execPath,
    [...cli, 'serve', '--data', dataDir, '--port', '0', '--json', '--rate-limit-per-ip', '0', '--max-connections-per-ip', '0', '--log-level', 'error', ...extra],
    { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  let out = '';
  let err = '';
  proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    proc.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (!out.includes('\n')) return;
      const banner = JSON.parse(out.split('\n')[0]!) as ServeBanner;
      resolve({
        proc,
        banner,
        stop: async () => {
          proc.kill('SIGTERM');
          await exited;
        },
      });
    });
    void exited.then(() => reject(new Error(`custody serve exited early:\n${err}`)));
  });
}
