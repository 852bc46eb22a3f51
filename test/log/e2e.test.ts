/**
 * End to end, as a user would: the real `custody log serve` process on a loopback port, concurrent writers, then an
 * independent audit that knows only the printed verifier key and the C2SP specs. Also the CLI clients (add,
 * verify-inclusion, verify-consistency, monitor) and the single-writer rule on a data directory.
 */
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cli, spawnCli } from '../support/cli.ts';
import { tmpDir } from '../support/tmp.ts';
import { auditAll, startLog, writeTokenFile, writers } from './harness.ts';
import { openCheckpoint, parseVkey } from './independent.ts';

test('custody log serve: concurrent writers, independent audit, CLI clients', async (t) => {
  const dir = tmpDir(t);
  const tokenFile = writeTokenFile(dir);
  const data = join(dir, 'data');
  const log = await startLog(data, tokenFile);
  t.after(() => log.proc.kill('SIGKILL'));
  assert.match(log.vkey, /^example\.test\/log\+[0-9a-f]{8}\+[A-Za-z0-9+/]+=*$/);
  assert.match(log.url, /^http:\/\/127\.0\.0\.1:\d+\/log$/);
  assert.equal(statSync(join(data, 'log.key')).mode & 0o777, 0o600, 'the signing key is private');

  // 16 concurrent writers until at least 600 entries (more than two full tiles).
  const w = writers(log.url, 16, 'e2e');
  while (w.acks.length < 600) await new Promise((r) => setTimeout(r, 20));
  await w.stop();
  assert.equal(w.failures, 0);
  const indexes = w.acks.map((a) => a.index).sort((a, b) => a - b);
  assert.deepEqual(indexes, indexes.map((_, i) => i), 'indexes are dense and unique');
  const { size } = await auditAll(log.url, log.vkey, w.acks, []);
  assert.equal(size, w.acks.length);

  // The CLI clients against the same log.
  const key = log.vkey;
  const cwd = dir;
  writeFileSync(join(dir, 'entry.txt'), 'hello from the cli\n');
  const add = await cli(['log', 'add', log.url, '--token-file', tokenFile, '--entry', 'entry.txt', '--key', key], { cwd });
  assert.equal(add.code, 0, add.stderr);
  const proofFile = join(dir, 'entry.txt.tlog-proof');
  assert.match(readFileSync(proofFile, 'utf8'), /^c2sp\.org\/tlog-proof@v1\nindex \d+\n/);
  const vi = await cli(['log', 'verify-inclusion', '--proof', proofFile, '--key', key, '--entry', 'entry.txt'], { cwd });
  assert.equal(vi.code, 0, vi.stderr);
  const viUrl = await cli(['log', 'verify-inclusion', '--proof', proofFile, '--key', key, '--url', log.url], { cwd });
  assert.equal(viUrl.code, 0, viUrl.stderr);
  writeFileSync(join(dir, 'other.txt'), 'not the logged entry\n');
  const viBad = await cli(['log', 'verify-inclusion', '--proof', proofFile, '--key', key, '--entry', 'other.txt'], { cwd });
  assert.equal(viBad.code, 1);
  assert.match(viBad.stderr, /ERR_TLOG_INCLUSION_INVALID/);
  const viTiles = await cli(['log', 'verify-inclusion', log.url, '--index', '257', '--key', key, '--output', 'p257.tlog-proof'], { cwd });
  assert.equal(viTiles.code, 0, viTiles.stderr);
  const entry257 = w.acks.find((a) => a.index === 257)!.entry;
  writeFileSync(join(dir, 'e257'), entry257);
  assert.equal((await cli(['log', 'verify-inclusion', '--proof', 'p257.tlog-proof', '--key', key, '--entry', 'e257'], { cwd })).code, 0);
  const beyond = await cli(['log', 'verify-inclusion', log.url, '--index', '999999', '--key', key], { cwd });
  assert.equal(beyond.code, 1);
  assert.match(beyond.stderr, /ERR_TLOG_RANGE/);

  // Consistency: an old checkpoint (from the first ack) against the log, from tiles; and offline with a proof.
  const early = w.acks.reduce((a, b) => (openCheckpoint(a.checkpoint, parseVkey(key)).size <= openCheckpoint(b.checkpoint, parseVkey(key)).size ? a : b));
  writeFileSync(join(dir, 'old.cp'), early.checkpoint);
  const vc = await cli(['log', 'verify-consistency', '--old', 'old.cp', '--key', key, '--url', log.url], { cwd });
  assert.equal(vc.code, 0, vc.stderr);
  writeFileSync(join(dir, 'empty.proof'), '');
  const vcBad = await cli(['log', 'verify-consistency', '--old', proofFile, '--new', 'old.cp', '--proof', 'empty.proof', '--key', key], { cwd });
  assert.equal(vcBad.code, 1, 'size1 > size2 is refused');
  assert.match(vcBad.stderr, /ERR_TLOG_RANGE/);

  // Monitor: first run records the state, the second verifies growth by consistency from tiles.
  const m1 = await cli(['log', 'monitor', log.url, '--key', key, '--state', 'mon.json', '--once'], { cwd });
  assert.equal(m1.code, 0, m1.stderr);
  assert.match(m1.stdout, /^verified example\.test\/log size \d+/);
  await cli(['log', 'add', log.url, '--token-file', tokenFile, '--entry', 'other.txt', '--key', key], { cwd });
  const m2 = await cli(['log', 'monitor', log.url, '--key', key, '--state', 'mon.json', '--once'], { cwd });
  assert.equal(m2.code, 0, m2.stderr);
  assert.match(m2.stdout, /^grew example\.test\/log size \d+/);

  // A second process on the same data directory refuses to start (it could otherwise fork the log).
  const second = await spawnCli(
    ['log', 'serve', '--data', data, '--port', '0', '--origin', 'example.test/log', '--token-file', tokenFile],
    { cwd },
  );
  assert.equal(second.code, 2, second.stderr);
  assert.match(second.stderr, /ERR_LOG_LOCKED/);
  // The first one is still serving and consistent.
  await auditAll(log.url, log.vkey, w.acks, []);

  // Graceful stop, restart on the same data: same key, same tree.
  log.proc.kill('SIGTERM');
  assert.equal(await log.exited, 0);
  const again = await startLog(data, tokenFile);
  t.after(() => again.proc.kill('SIGKILL'));
  assert.equal(again.vkey, log.vkey, 'the key is reused');
  const audit = await auditAll(again.url, again.vkey, w.acks, []);
  assert.ok(audit.size >= w.acks.length + 2);
  again.proc.kill('SIGTERM');
  assert.equal(await again.exited, 0);
});
