/**
 * `custody log monitor` against real logs: it follows growth, and exits 1 with a report on a fork (two histories
 * signed by the same key, served at the same URL), a bad signature, or tiles that contradict the checkpoint.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import Fastify from 'fastify';
import { pino } from 'pino';
import { startLogServer, type RunningLogServer } from '../../src/server/log/server.ts';
import { cli } from '../support/cli.ts';
import { tmpDir } from '../support/tmp.ts';

const ORIGIN = 'example.test/log';
const TOKEN = 'monitor-token-0123456789';
const silent = pino({ level: 'silent' });

async function start(t: TestContext, dataDir: string): Promise<RunningLogServer> {
  const s = await startLogServer({ dataDir, origin: ORIGIN, tokens: [new TextEncoder().encode(TOKEN)], host: '127.0.0.1', port: 0, logger: silent });
  t.after(() => s.close());
  return s;
}

async function add(url: string, n: number, tag: string): Promise<void> {
  await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const r = await fetch(`${url}/add`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, body: `${tag}-${i}` });
      assert.equal(r.status, 200);
      await r.text();
    }),
  );
}

/**
 * A switchable front: serves one log's paths, or another's, or a doctored checkpoint, at one stable URL — what a
 * monitor sees when a log (or someone between them) shows it a different view.
 */
interface FrontTarget {
  url: string;
  checkpoint?: ((text: string) => string) | undefined;
  tile?: ((path: string, b: Buffer) => Buffer) | undefined;
}

async function front(t: TestContext): Promise<{ url: string; target: FrontTarget }> {
  const state: FrontTarget = { url: '' };
  const app = Fastify({ logger: false });
  app.get('/log/*', async (req, reply) => {
    const path = (req.params as { '*': string })['*'];
    const r = await fetch(`${state.url}/${path}`);
    let b: Buffer = Buffer.from(await r.arrayBuffer());
    if (path === 'checkpoint' && state.checkpoint) b = Buffer.from(state.checkpoint(b.toString()));
    if (path.startsWith('tile/') && state.tile) b = state.tile(path, b);
    return reply.code(r.status).type(r.headers.get('content-type') ?? 'application/octet-stream').send(b);
  });
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  t.after(() => app.close());
  return { url: `${address}/log`, target: state };
}

test('monitor: growth is followed; a fork signed with the same key is reported and exits 1', async (t) => {
  const dir = tmpDir(t);
  const a = await start(t, join(dir, 'a'));
  // The second history uses the SAME signing key: a log operator (or a thief of the key) forking the log.
  mkdirSync(join(dir, 'b'), { mode: 0o700 });
  copyFileSync(join(dir, 'a', 'log.key'), join(dir, 'b', 'log.key'));
  const b = await start(t, join(dir, 'b'));
  assert.equal(a.vkey, b.vkey);
  const f = await front(t);
  const key = a.vkey;
  const monitor = (...extra: string[]) => cli(['log', 'monitor', f.url, '--key', key, '--state', 'state.json', '--once', ...extra], { cwd: dir });

  f.target.url = a.url;
  await add(a.url, 300, 'a');
  let r = await monitor();
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^verified example\.test\/log size 300 /);
  await add(a.url, 20, 'a2');
  r = await monitor();
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^grew example\.test\/log size 320 /);
  const state = readFileSync(join(dir, 'state.json'), 'utf8');

  // Fork 1: a larger tree that does not extend the verified one.
  await add(b.url, 330, 'b');
  f.target.url = b.url;
  r = await monitor();
  assert.equal(r.code, 1);
  assert.match(r.stdout, /FORK DETECTED/);
  assert.match(r.stdout, /verified before \(kept in state\.json\):\n {4}example\.test\/log\n {4}320\n/);
  assert.match(r.stdout, /served now:\n {4}example\.test\/log\n {4}330\n/);
  assert.match(r.stderr, /\[ERR_LOG_FORK\]/);
  assert.equal(readFileSync(join(dir, 'state.json'), 'utf8'), state, 'the verified state is kept as evidence');

  // Fork 2: same size, other root. Fork 3: a smaller tree that is not a prefix.
  await add(a.url, 10, 'a3'); // a: 330
  f.target.url = a.url;
  assert.equal((await monitor()).code, 0);
  f.target.url = b.url; // b: 330, other root
  r = await monitor();
  assert.equal(r.code, 1);
  assert.match(r.stderr, /ERR_LOG_FORK/);
  await add(a.url, 10, 'a4'); // a: 340
  f.target.url = a.url;
  assert.equal((await monitor()).code, 0);
  f.target.url = b.url; // b: 330 < 340, not a prefix
  r = await monitor();
  assert.equal(r.code, 1);
  assert.match(r.stderr, /ERR_LOG_FORK/);

  // A stale but consistent view (an older checkpoint of the same log) is only a warning.
  const old = await (await fetch(`${a.url}/checkpoint`)).text();
  await add(a.url, 5, 'a5');
  f.target.url = a.url;
  assert.equal((await monitor()).code, 0);
  f.target.checkpoint = () => old;
  r = await monitor();
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /older checkpoint/);
});

test('monitor: a bad signature, an unknown key and doctored tiles exit 1 with a coded report', async (t) => {
  const dir = tmpDir(t);
  const a = await start(t, join(dir, 'a'));
  const other = await start(t, join(dir, 'other'));
  await add(a.url, 40, 'x');
  await add(other.url, 40, 'y');
  const f = await front(t);
  const monitor = () => cli(['log', 'monitor', f.url, '--key', a.vkey, '--once'], { cwd: dir });
  f.target.url = a.url;
  assert.equal((await monitor()).code, 0);

  // Flip one bit of the signature.
  f.target.checkpoint = (text) => {
    const i = text.lastIndexOf(' ') + 10;
    return text.slice(0, i) + (text[i] === 'A' ? 'B' : 'A') + text.slice(i + 1);
  };
  let r = await monitor();
  assert.equal(r.code, 1);
  assert.match(r.stderr, /ERR_NOTE_SIGNATURE_INVALID/);

  // A checkpoint signed by another key only.
  f.target.checkpoint = undefined;
  f.target.url = other.url;
  r = await monitor();
  assert.equal(r.code, 1);
  assert.match(r.stderr, /ERR_NOTE_UNKNOWN_KEY/);

  // Tiles that do not hash to the signed root.
  f.target.url = a.url;
  f.target.tile = (_path, b) => {
    const c = Buffer.from(b);
    c[0] = c[0]! ^ 1;
    return c;
  };
  r = await monitor();
  assert.equal(r.code, 1);
  assert.match(r.stderr, /ERR_TLOG_TILE_INVALID/);

  // An unreachable log with --once is an I/O failure (exit 3), not a verdict.
  const down = await cli(['log', 'monitor', 'http://127.0.0.1:9/log', '--key', a.vkey, '--once'], { cwd: dir });
  assert.equal(down.code, 3);
});
