/**
 * test/support/postgres — a real, throwaway PostgreSQL server for tests: `initdb` into a temporary directory and
 * `postgres` on a loopback port (run as the `postgres` user when the tests run as root, as initdb requires).
 * Missing binaries give a loud skip message instead; `.ci/run` installs the `postgresql` package so CI runs the tests.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import pg from 'pg';

export interface TestPostgres {
  url: string;
  stop: () => Promise<void>;
}

function findBin(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':')) if (dir && existsSync(join(dir, name))) return join(dir, name);
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return undefined;
  const versions = readdirSync(base).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
  for (const v of versions) if (existsSync(join(base, v, 'bin', name))) return join(base, v, 'bin', name);
  return undefined;
}

/** postgresSkip is a loud skip message when no PostgreSQL server binaries are installed, else false. */
export function postgresSkip(): string | false {
  if (findBin('initdb') && findBin('postgres')) return false;
  return '!!! SKIPPED: PostgreSQL is not installed (initdb/postgres not found; .ci/run installs the postgresql package) !!!';
}

/** asUser gives spawn options that run a command as `postgres` when we are root (initdb and postgres refuse root). */
function asUser(): { uid?: number; gid?: number } {
  if (process.getuid?.() !== 0) return {};
  const uid = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (uid.status !== 0 || gid.status !== 0) throw new Error('tests run as root but there is no postgres user to run the server as');
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/** startPostgres starts a fresh server; call stop() when done (it also removes the data directory). */
export async function startPostgres(): Promise<TestPostgres> {
  const initdb = findBin('initdb')!;
  const postgres = findBin('postgres')!;
  const dir = mkdtempSync(join(tmpdir(), 'custody-pg-'));
  const user = asUser();
  if (user.uid !== undefined) chownSync(dir, user.uid, user.gid!);
  const data = join(dir, 'data');
  const init = spawnSync(initdb, ['-D', data, '-A', 'trust', '-U', 'custody', '--no-sync', '-E', 'UTF8', '--locale=C'], {
    encoding: 'utf8',
    cwd: dir,
    ...user,
  });
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr}`);
  let proc: ChildProcess | undefined;
  let port = 0;
  let lastErr = '';
  for (let attempt = 0; attempt < 5 && proc === undefined; attempt++) {
    port = 20_000 + Math.floor(Math.random() * 40_000);
    const p = spawn(postgres, ['-D', data, '-k', dir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=on'], {
      stdio: ['ignore', 'ignore', 'pipe'],
      cwd: dir,
      ...user,
    });
    let err = '';
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const url = `postgresql://custody@127.0.0.1:${port}/postgres`;
    for (let i = 0; i < 100; i++) {
      if (p.exitCode !== null) break;
      const c = new pg.Client({ connectionString: url });
      try {
        await c.connect();
        await c.end();
        proc = p;
        break;
      } catch {
        await c.end().catch(() => undefined);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    if (proc === undefined) {
      p.kill('SIGKILL');
      lastErr = err;
    }
  }
  if (proc === undefined) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`postgres did not start: ${lastErr}`);
  }
  const running = proc;
  return {
    url: `postgresql://custody@127.0.0.1:${port}/postgres`,
    stop: async () => {
      if (running.exitCode === null) {
        const exited = new Promise<void>((r) => running.once('exit', () => r()));
        running.kill('SIGINT'); // fast shutdown
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** freshSchema returns a new schema name, so tests sharing one server never see each other's logs. */
let schemaCounter = 0;
export function freshSchema(prefix = 't'): string {
  return `${prefix}_${process.pid}_${Date.now() % 1_000_000}_${schemaCounter++}`;
}

/** FilePostgres is one test file's server: `skip` for the tests' options, `url()` and `urlFile(dir)` inside them. */
export interface FilePostgres {
  /** skip is the loud skip message when PostgreSQL is not installed, else false. */
  skip: string | false;
  /** url is the running server's connection string (only inside a test that is not skipped). */
  url: () => string;
  /** urlFile writes the connection string to DIR/pg.url (0600, as --postgres-url-file wants) and returns its path. */
  urlFile: (dir: string) => string;
}

/**
 * postgresForFile starts one throwaway server for the calling test file (node:test before/after hooks at the top
 * level), unless PostgreSQL is missing; every test that uses it takes `skip` as its skip option.
 */
export function postgresForFile(): FilePostgres {
  const skip = postgresSkip();
  let server: TestPostgres | undefined;
  if (!skip) {
    before(async () => {
      server = await startPostgres();
    });
    after(async () => {
      await server?.stop();
    });
  }
  const url = (): string => {
    if (server === undefined) throw new Error('test/support/postgres: the server runs only inside tests that are not skipped');
    return server.url;
  };
  return {
    skip,
    url,
    urlFile(dir) {
      const path = join(dir, 'pg.url');
      writeFileSync(path, url() + '\n', { mode: 0o600 });
      return path;
    },
  };
}
