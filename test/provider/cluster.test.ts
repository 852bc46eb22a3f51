/**
 * `custody serve --workers N` as a real process tree, and the first start a newcomer sees: releases published
 * through the leader reach every worker, a killed worker is replaced, SIGTERM stops them all; the sample release's
 * printed `custody fetch` command works exactly as printed; --log-format json|pretty.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import { prettyLine } from '../../src/server/log-format.ts';
import { sampleFiles } from '../../src/server/provider/sample.ts';
import { CLI_MAIN, TSX_LOADER, cli } from '../support/cli.ts';
import { tmpDir } from '../support/tmp.ts';
import { serveChild } from './harness.ts';

/** getFresh GETs a path on a new connection (so the cluster hands it to the next worker). */
function getFresh(url: string, path: string): Promise<{ status: number; worker: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url + path, { agent: false, headers: { connection: 'close' } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, worker: res.headers['x-custody-worker'] as string | undefined, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * refusedUpload PUTs `size` bytes with a wrong token, `Expect: 100-continue` and a spoofed X-Forwarded-For, sending
 * the body only if told to continue; it reports the answer and whether the body was asked for.
 */
function refusedUpload(url: string, path: string, size: number): Promise<{ status: number; code: string; continued: boolean }> {
  return new Promise((resolve, reject) => {
    let continued = false;
    const req = request(url + path, {
      method: 'PUT',
      agent: false,
      headers: { authorization: 'Bearer wrong-token-0123456789', 'content-length': String(size), expect: '100-continue', 'x-forwarded-for': '203.0.113.9' },
    }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => {
        req.destroy();
        resolve({ status: res.statusCode ?? 0, code: (JSON.parse(body) as { code: string }).code, continued });
      });
    });
    req.on('continue', () => {
      continued = true;
      req.end(Buffer.alloc(size));
    });
    req.on('error', reject);
    req.flushHeaders();
  });
}

/** byWorker asks until every one of `n` workers answered, and returns the answers by worker. */
async function byWorker(url: string, path: string, n: number): Promise<Map<string, { status: number; body: string }>> {
  const seen = new Map<string, { status: number; body: string }>();
  for (let i = 0; i < 50 && seen.size < n; i++) {
    const r = await getFresh(url, path);
    assert.ok(r.worker !== undefined, 'a worker answered');
    seen.set(r.worker, r);
  }
  assert.equal(seen.size, n, `answers from ${[...seen.keys()].join(',')}`);
  return seen;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitFor(cond: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

test('custody serve --workers 2: releases through the leader reach every worker; kill -9 of a worker is replaced; SIGTERM stops all', { timeout: 180_000 }, async (t) => {
  const dir = tmpDir(t);
  const s = await serveChild(t, dir, ['--data', 'data', '--workers', '2', '--log-level', 'info', '--log-format', 'json', '--no-sample']);
  const url = s.info.url;
  assert.equal(s.info.workers.length, 2);
  assert.equal(s.info.sample, undefined, '--no-sample');
  assert.equal((await getFresh(url, '/stable/x86_64/manifest.json')).status, 404);

  // Publish through the API: the upload and the release go to the leader (forwarded by whichever worker).
  writeFileSync(join(dir, 'kernel.img'), Buffer.alloc(9000, 3));
  const pub = await cli(['publish', url, '--token-file', 'data/admin.token', '--channel', 'stable', '--arch', 'x86_64', 'kernel.img'], { cwd: dir });
  assert.equal(pub.code, 0, pub.stderr);
  const digest = /digest (sha256:[0-9a-f]{64})/.exec(pub.stdout)?.[1];
  assert.ok(digest !== undefined, pub.stdout);
  // Visible on every worker as soon as the publish returned: the leader told them after the durable write.
  for (const [w, r] of await byWorker(url, '/stable/x86_64/manifest.json', 2)) {
    assert.equal(r.status, 200, `worker ${w}`);
    assert.equal((JSON.parse(r.body) as { signatures: unknown[] }).signatures.length, 1);
  }
  for (const [w, r] of await byWorker(url, '/stable/x86_64/kernel.img', 2)) assert.equal(r.body.length, 9000, `worker ${w}`);
  // A verified fetch through the cluster.
  const f = await cli(['fetch', url, '--channel', 'stable', '--arch', 'x86_64', '--root-fingerprint', s.info.trust_fingerprint, '--require-log', s.info.log_vkey, '--output', 'out'], { cwd: dir });
  assert.equal(f.code, 0, f.stderr);
  assert.deepEqual(readFileSync(join(dir, 'out', 'kernel.img')), Buffer.alloc(9000, 3));
  // The log and the admin API are the leader's: a refused upload is answered (and audited) with the client address.
  const denied = await fetch(`${url}/admin/v1/rescan`, { method: 'POST', headers: { authorization: 'Bearer wrong-token-0123456789' } });
  assert.equal(denied.status, 401);
  assert.equal(((await denied.json()) as { code: string }).code, 'ERR_PROVIDER_UNAUTHORIZED');
  assert.equal((await fetch(`${url}/log/checkpoint`)).status, 200);
  // An upload the leader refuses before reading (wrong token) is answered with the leader's own 401 through a
  // worker, every time, and never asks for its body; a spoofed X-Forwarded-For does not reach the leader.
  for (let i = 0; i < 6; i++) {
    const r = await refusedUpload(url, `/admin/v1/blobs/sha256/${'ab'.repeat(32)}`, 16 * 1024 * 1024);
    assert.deepEqual(r, { status: 401, code: 'ERR_PROVIDER_UNAUTHORIZED', continued: false }, `try ${i}`);
  }

  // kill -9 of a worker: the leader starts a replacement, which serves the current release.
  const [victim, other] = s.info.workers as [number, number];
  process.kill(victim, 'SIGKILL');
  const started = (): number[] =>
    s
      .stderr()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { msg: string; workerPid?: number })
      .filter((l) => l.msg === 'worker started')
      .map((l) => l.workerPid!);
  await waitFor(() => started().length === 3, 'a replacement worker');
  const replacement = started()[2]!;
  assert.ok(![victim, other].includes(replacement));
  for (const [w, r] of await byWorker(url, '/stable/x86_64/manifest.json', 2)) assert.equal(r.status, 200, `worker ${w}`);

  // Every stderr line is a JSON log record (--log-format json).
  for (const line of s.stderr().trim().split('\n')) assert.doesNotThrow(() => JSON.parse(line), line);

  // SIGTERM: the leader stops its workers, then itself, cleanly.
  s.proc.kill('SIGTERM');
  assert.equal(await s.exited, 0, s.stderr());
  await waitFor(() => !alive(other) && !alive(replacement), 'the workers to exit');
  const events = readFileSync(join(dir, 'data', 'audit.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { event: string; ip?: string });
  const refused = events.filter((e) => e.event === 'admin.refused');
  assert.equal(refused.length, 7);
  for (const e of refused) assert.equal(e.ip, '127.0.0.1', 'the client address, never the spoofed one');
  assert.equal(events.at(-1)?.event, 'daemon.stopped');
});

test('a first start publishes the sample release and prints a custody fetch command that works as printed', { timeout: 180_000 }, async (t) => {
  const dir = tmpDir(t);
  // The human banner (no --json), as `npm start` shows it; one process.
  const proc = spawn(process.execPath, ['--import', TSX_LOADER, CLI_MAIN, 'serve', '--port', '0', '--workers', '1', '--log-format', 'pretty'], {
    cwd: dir,
    env: { PATH: process.env.PATH, HOME: process.env.HOME },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => proc.kill('SIGKILL'));
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  let out = '';
  let err = '';
  proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
  await new Promise<void>((resolve, reject) => {
    proc.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (/npx custody fetch .*\n/.test(out)) resolve();
    });
    void exited.then((code) => reject(new Error(`serve exited with ${code}:\n${err}`)));
  });
  assert.match(out, /sample release {5}sample\/[a-z0-9_]+ /);
  const printed = /^ {4}(npx custody fetch .*)$/m.exec(out)?.[1];
  assert.ok(printed !== undefined, out);
  assert.match(printed, /--channel sample --arch [a-z0-9_]+ /);

  // Exactly as printed, through a shell, with `npx custody` standing for the CLI under test.
  const command = printed.replace(/^npx custody /, '"$NODE" --import "$TSX" "$CLI" ');
  const run = spawn('sh', ['-c', command], {
    cwd: dir,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, NODE: process.execPath, TSX: TSX_LOADER, CLI: CLI_MAIN },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let fetchOut = '';
  let fetchErr = '';
  run.stdout.on('data', (d: Buffer) => (fetchOut += d.toString()));
  run.stderr.on('data', (d: Buffer) => (fetchErr += d.toString()));
  const code = await new Promise<number | null>((r) => run.on('close', r));
  assert.equal(code, 0, fetchErr);
  assert.match(fetchOut, /^VERIFIED sample\//m);
  const outDir = /--output (\S+)$/.exec(printed)![1]!;
  for (const [, filename, data] of sampleFiles()) assert.deepEqual(readFileSync(join(dir, outDir, filename)), data, filename);

  // Pretty log lines: readable, not JSON.
  assert.match(err, /^\d\d:\d\d:\d\d INFO {2}manifest signed and logged {2}.*channel=sample/m);
  proc.kill('SIGTERM');
  assert.equal(await exited, 0, err);

  // A second start of the same (no longer empty) data directory makes no new sample.
  const again = await serveChild(t, dir, ['--workers', '1']);
  assert.equal(again.info.sample, undefined);
  again.proc.kill('SIGTERM');
  assert.equal(await again.exited, 0);
});

test('prettyLine renders a pino record as time, level, message and fields; other lines pass through', () => {
  const line = JSON.stringify({ level: 40, time: Date.UTC(2026, 0, 2, 3, 4, 5), pid: 1, hostname: 'h', msg: 'stored release no longer verifies', channel: 'stable', code: 'ERR_MANIFEST_EXPIRED', note: 'two words' });
  assert.equal(prettyLine(line), '03:04:05 WARN  stored release no longer verifies  channel=stable code=ERR_MANIFEST_EXPIRED note="two words"\n');
  assert.equal(prettyLine('not json'), 'not json\n');
});
