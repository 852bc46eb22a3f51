/**
 * test/provider/harness — start the real provider daemon in-process on a loopback port with a real data directory,
 * and small HTTP helpers.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { pino } from 'pino';
import { startCluster, type ClusterOptions, type RunningCluster } from '../../src/server/cluster.ts';
import { startDaemon, type DaemonOptions, type RunningDaemon } from '../../src/server/daemon.ts';
import { CLI_MAIN, TSX_LOADER } from '../support/cli.ts';

/**
 * start runs the daemon on 127.0.0.1:0 and closes it after the test. The per-address rate limit is off unless the
 * test sets one: every request of a test comes from 127.0.0.1, and how many land in one second depends on the
 * machine's speed, so a test that does not test the limiter must not race it (the limiter's own tests pass
 * `rateLimitPerIp`/`rateLimitGlobal` explicitly).
 */
export async function start(t: TestContext, dataDir: string, extra: Partial<DaemonOptions> = {}): Promise<RunningDaemon> {
  // Errors still show; the rest would drown the test output.
  const d = await startDaemon({ dataDir, host: '127.0.0.1', port: 0, logger: pino({ level: 'error' }), rateLimitPerIp: 0, ...extra });
  t.after(() => d.close());
  return d;
}

/**
 * startTestCluster runs a leader and two workers (server/cluster) on 127.0.0.1:0, every rate limit off (as {@link start}),
 * no sample release, and closes them after the test.
 */
export async function startTestCluster(t: TestContext, dataDir: string, extra: Partial<ClusterOptions> = {}): Promise<RunningCluster> {
  const c = await startCluster({
    dataDir,
    host: '127.0.0.1',
    port: 0,
    workers: 2,
    logger: pino({ level: 'error' }),
    rateLimitPerIp: 0,
    signingRateLimitPerIp: 0,
    signingRateLimitPerToken: 0,
    sample: false,
    ...extra,
  });
  t.after(() => c.close());
  return c;
}

/** putIncoming writes artifact files into DATA/incoming/<channel>/<arch>/. */
export function putIncoming(d: { incomingDir: string }, channel: string, arch: string, files: Record<string, string | Buffer>): void {
  const dir = join(d.incomingDir, channel, arch);
  mkdirSync(dir, { recursive: true });
  for (const [name, data] of Object.entries(files)) writeFileSync(join(dir, name), data);
}

export interface Got {
  status: number;
  headers: Headers;
  body: Buffer;
  json: () => Record<string, unknown>;
}

/** get fetches a path of the daemon. */
export async function get(d: { url: string }, path: string, init: RequestInit = {}): Promise<Got> {
  const r = await fetch(d.url + path, init);
  const body = Buffer.from(await r.arrayBuffer());
  return { status: r.status, headers: r.headers, body, json: () => JSON.parse(body.toString('utf8')) as Record<string, unknown> };
}

/** bearer is the Authorization header of the daemon's admin token. */
export function bearer(d: RunningDaemon): Record<string, string> {
  return { authorization: `Bearer ${new TextDecoder().decode(d.identity.token)}` };
}

/** ServeInfo is the --json banner of custody serve. */
export interface ServeInfo {
  url: string;
  data_dir: string;
  trust_fingerprint: string;
  log_vkey: string;
  token_file: string;
  releases: unknown[];
  workers: number[];
  sample?: { channel: string; arch: string; fetch_command: string };
}

export interface Served {
  proc: ChildProcessWithoutNullStreams;
  info: ServeInfo;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** serveChild starts the real `custody serve` process (--json banner) and kills it after the test. */
export function serveChild(t: TestContext, cwd: string, args: string[], env: Record<string, string> = {}): Promise<Served> {
  const proc = spawn(process.execPath, ['--import', TSX_LOADER, CLI_MAIN, 'serve', '--port', '0', '--json', '--log-level', 'warn', ...args], {
    cwd,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  t.after(() => proc.kill('SIGKILL'));
  let out = '';
  let err = '';
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  return new Promise((resolve, reject) => {
    proc.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve({ proc, info: JSON.parse(out.split('\n')[0]!) as ServeInfo, stderr: () => err, exited });
    });
    proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
    void exited.then((code) => reject(new Error(`custody serve exited with ${code} before listening:\n${err}`)));
  });
}

/** Override answers a request itself (true) or lets the proxy forward it (false). */
export type Override = (req: IncomingMessage, res: ServerResponse) => boolean;

/** proxy (a hostile network in front of a provider) forwards to `upstream` unless `override` answers; `seen` lists every request path. */
export async function proxy(t: TestContext, upstream: string, override: Override): Promise<{ url: string; seen: string[] }> {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(req.url!);
    if (override(req, res)) return;
    void fetch(upstream + req.url!).then(async (r) => {
      res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/octet-stream' });
      res.end(Buffer.from(await r.arrayBuffer()));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}
