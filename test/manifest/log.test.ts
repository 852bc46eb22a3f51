/**
 * Manifests in the transparency log: `sign-manifest --log URL` stores a tlog-proof beside the manifest and
 * `verify-manifest --require-log VKEY` refuses a manifest without a valid inclusion proof under that key.
 * A real log server on a loopback port, real SQLite storage.
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { startLogServer } from '../../src/server/log/server.ts';
import { cli } from '../support/cli.ts';
import { listTree, tmpDir } from '../support/tmp.ts';

test('sign-manifest --log and verify-manifest --require-log, end to end', async (t) => {
  const dir = tmpDir(t);
  const token = 'test-token-0123456789';
  const server = await startLogServer({
    dataDir: join(dir, 'logdata'),
    origin: 'example.test/log',
    tokens: [new TextEncoder().encode(token)],
    host: '127.0.0.1',
    port: 0,
    logger: pino({ level: 'silent' }),
  });
  t.after(() => server.close());
  const run = (...argv: string[]) => cli(argv, { cwd: dir, env: { CUSTODY_LOG_TOKEN: token } });
  writeFileSync(join(dir, 'token'), token + '\n', { mode: 0o600 });
  for (const k of ['a', 'b']) assert.equal((await run('keygen', '--output', `k/${k}.pem`)).code, 0);
  assert.equal((await run('trust', 'init', '--threshold', '2', '--key', 'k/a.pub', '--key', 'k/b.pub', '--sign', 'k/a.pem', '--sign', 'k/b.pem', '--output', 'root.json')).code, 0);
  mkdirSync(join(dir, 'art'));
  writeFileSync(join(dir, 'art', 'vmlinuz'), 'kernel bytes');
  assert.equal((await run('manifest', 'create', '--artifacts', 'art', '--channel', 'stable', '--arch', 'x86_64', '--sequence', '1', '--output', 'm0.json')).code, 0);
  let r = await run('sign-manifest', '--manifest', 'm0.json', '--key', 'k/a.pem', '--output', 'm1.json');
  assert.equal(r.code, 0, r.stderr);
  r = await cli(['sign-manifest', '--manifest', 'm1.json', '--key', 'k/b.pem', '--output', 'm2.json', '--log', server.url, '--log-token-file', 'token', '--log-key', server.vkey], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /logged at index 0 of example\.test\/log/);
  assert.ok(existsSync(join(dir, 'm2.json.tlog-proof')));
  assert.match(readFileSync(join(dir, 'm2.json.tlog-proof'), 'utf8'), /^c2sp\.org\/tlog-proof@v1\n/);

  r = await run('verify-manifest', 'm2.json', '--trust', 'root.json', '--require-log', server.vkey, '--json');
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual((JSON.parse(r.stdout) as { manifest: { log: unknown } }).manifest.log, { origin: 'example.test/log', index: 0, tree_size: 1 });
  r = await run('verify', 'm2.json', 'art/vmlinuz', '--trust', 'root.json', '--require-log', server.vkey);
  assert.equal(r.code, 0, r.stderr);

  // No proof beside the manifest.
  copyFileSync(join(dir, 'm2.json'), join(dir, 'copy.json'));
  r = await run('verify-manifest', 'copy.json', '--trust', 'root.json', '--require-log', server.vkey);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /\[ERR_MANIFEST_LOG_PROOF_MISSING\]/);
  // A proof of another manifest (same signers, other sequence) does not prove this one.
  assert.equal((await run('manifest', 'create', '--artifacts', 'art', '--channel', 'stable', '--arch', 'x86_64', '--sequence', '2', '--output', 'n0.json')).code, 0);
  assert.equal((await run('sign-manifest', '--manifest', 'n0.json', '--key', 'k/a.pem', '--output', 'n1.json', '--log', server.url)).code, 0);
  r = await run('verify-manifest', 'm2.json', '--trust', 'root.json', '--require-log', server.vkey, '--log-proof', 'n1.json.tlog-proof');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /\[ERR_TLOG_INCLUSION_INVALID\]/);
  // A proof under another log key is refused.
  const otherKey = server.vkey.replace(/^example\.test\/log/, 'other.test/log');
  r = await run('verify-manifest', 'm2.json', '--trust', 'root.json', '--require-log', otherKey);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /\[ERR_(NOTE_UNKNOWN_KEY|NOTE_KEY_INVALID|CHECKPOINT_ORIGIN_MISMATCH)\]/);

  // A refused submission (bad token) writes nothing.
  const before = listTree(dir);
  r = await cli(['sign-manifest', '--manifest', 'm1.json', '--key', 'k/b.pem', '--output', 'm3.json', '--log', server.url], { cwd: dir, env: { CUSTODY_LOG_TOKEN: 'wrong' } });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /\[ERR_LOG_UNAUTHORIZED\]/);
  assert.deepEqual(listTree(dir), before);
});
