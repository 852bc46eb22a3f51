/**
 * The log with its state in a real PostgreSQL server (started by the test): `custody log serve
 * --postgres-url-file` with concurrent writers, an independent audit of the tiles, kill -9 and restart with every
 * acknowledged entry present, and a second server on the same schema — even from another data directory — locked
 * out by the lease kept in the database. Skipped loudly where PostgreSQL is not installed (.ci/run installs it).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { spawnCli } from '../support/cli.ts';
import { postgresForFile } from '../support/postgres.ts';
import { tmpDir } from '../support/tmp.ts';
import { auditAll, startLog, writeTokenFile, writers } from './harness.ts';

const pgsql = postgresForFile();
const skip = pgsql.skip;

test('custody log serve with PostgreSQL storage: writers, independent audit, kill -9, restart, one writer per schema', { skip, timeout: 120_000 }, async (t) => {
  const dir = tmpDir(t);
  const tokenFile = writeTokenFile(dir);
  const urlFile = pgsql.urlFile(dir);
  const args = ['--postgres-url-file', urlFile, '--postgres-schema', 'e2e_log'];
  const data = join(dir, 'data');

  const log = await startLog(data, tokenFile, args);
  t.after(() => log.proc.kill('SIGKILL'));
  const w = writers(log.url, 8, 'pg');
  while (w.acks.length < 300) await new Promise((r) => setTimeout(r, 20));
  await w.stop();
  assert.equal(w.failures, 0);
  const first = await auditAll(log.url, log.vkey, w.acks, []);
  assert.ok(first.size >= 300);

  // A second server on the same schema, from another data directory, cannot take the log over.
  const rival = await spawnCli(['log', 'serve', '--data', join(dir, 'rival'), '--port', '0', '--origin', 'example.test/log', '--token-file', tokenFile, ...args], {
    cwd: dir,
    env: { PATH: process.env.PATH, HOME: process.env.HOME },
  });
  assert.equal(rival.code, 2, rival.stderr);
  assert.match(rival.stderr, /ERR_LOG_LOCKED/);
  assert.ok(!rival.stderr.includes(pgsql.url()), 'the connection string is never printed');

  // kill -9 mid-stream; after a restart every acknowledged entry is present with a valid proof.
  const w2 = writers(log.url, 8, 'pg2');
  while (w2.acks.length < 100) await new Promise((r) => setTimeout(r, 5));
  log.proc.kill('SIGKILL');
  await log.exited;
  await w2.stop();
  const again = await startLog(data, tokenFile, args);
  t.after(() => again.proc.kill('SIGKILL'));
  assert.equal(again.vkey, log.vkey);
  const all = [...w.acks, ...w2.acks];
  const audited = await auditAll(again.url, again.vkey, all, []);
  assert.ok(audited.size >= all.length);
  again.proc.kill('SIGTERM');
  await again.exited;
});
