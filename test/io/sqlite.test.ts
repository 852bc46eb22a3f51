/**
 * io/sqlite on real files: a new database gets WAL, synchronous FULL and its version; reopening keeps the tables;
 * another version is refused (ERR_CONFIG_INVALID, through the caller's wrap) before anything is created; a create
 * that throws leaves the file without tables or version, and the error goes through wrap.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { IoError, isTrustError, TrustError } from '../../src/errors.ts';
import { openVersionedSqlite, type VersionedSqlite } from '../../src/io/sqlite.ts';
import { tmpDir } from '../support/tmp.ts';

const wrapped: string[] = [];
function schema(version: number, create: VersionedSqlite['create'] = (db) => db.exec('CREATE TABLE IF NOT EXISTS t (x INTEGER)')): VersionedSqlite {
  return {
    version,
    what: 'test schema',
    busyTimeoutMs: 100,
    cacheKiB: 1024,
    create,
    wrap: (e, op) => {
      wrapped.push(op);
      return e instanceof TrustError ? e : new IoError('ERR_LOG_STORAGE', `${op}: ${(e as Error).message}`);
    },
  };
}

test('sqlite: versioned open, reopen, another version refused, a failed create leaves nothing', async (t) => {
  const dir = tmpDir(t);
  const path = join(dir, 'a.db');
  const db = await openVersionedSqlite(path, schema(3));
  assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
  assert.equal(db.pragma('synchronous', { simple: true }), 2, 'FULL');
  assert.equal(db.pragma('user_version', { simple: true }), 3);
  db.prepare('INSERT INTO t VALUES (7)').run();
  db.close();

  const again = await openVersionedSqlite(path, schema(3));
  assert.deepEqual(again.prepare('SELECT x FROM t').pluck().all(), [7]);
  again.close();

  wrapped.length = 0;
  await assert.rejects(
    openVersionedSqlite(path, schema(4, () => assert.fail('create must not run for another version'))),
    (e: unknown) => isTrustError(e) && e.code === 'ERR_CONFIG_INVALID' && /expected test schema 4, got 3/.test(e.message),
  );
  assert.deepEqual(wrapped, [`open ${path}`]);

  const fresh = join(dir, 'b.db');
  await assert.rejects(
    openVersionedSqlite(
      fresh,
      schema(1, (d) => {
        d.exec('CREATE TABLE u (y INTEGER)');
        throw new Error('planted');
      }),
    ),
    (e: unknown) => isTrustError(e) && e.code === 'ERR_LOG_STORAGE' && /planted/.test(e.message),
  );
  const raw = new Database(fresh);
  t.after(() => raw.close());
  assert.equal(raw.pragma('user_version', { simple: true }), 0, 'no version stored');
  assert.deepEqual(raw.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all(), [], 'the table made before the failure was rolled back');
});
