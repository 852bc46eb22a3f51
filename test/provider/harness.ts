/**
 * test/provider/harness — start the real provider daemon in-process on a loopback port with a real data directory,
 * and small HTTP helpers.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { pino } from 'pino';
import { startDaemon, type DaemonOptions, type RunningDaemon } from '../../src/server/daemon.ts';

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
