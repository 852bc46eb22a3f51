/**
 * io/sqlite — the first open of a versioned SQLite database (better-sqlite3), shared by the log's storage
 * (log/storage-sqlite) and the auth store (auth/store-sqlite): WAL with synchronous = FULL (every commit fsyncs the
 * WAL), a busy timeout for the other processes of one data directory, the stored `PRAGMA user_version` checked
 * before anything is created, the tables made in one IMMEDIATE transaction that also stores the version, and a new
 * file's directory entry fsynced (a power cut must not lose the whole database).
 */
import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { ConfigError, type TrustError } from '../errors.ts';
import { syncDir } from './files.ts';

export interface VersionedSqlite {
  /** version is stored in PRAGMA user_version; 0 (a new file) gets it, another is refused. */
  version: number;
  /** what names the schema kind in the refusal ("log schema"). */
  what: string;
  /** busyTimeoutMs bounds the wait for another process's write lock. */
  busyTimeoutMs: number;
  /** cacheKiB sets the page cache (PRAGMA cache_size in KiB) when given. */
  cacheKiB?: number;
  /** create makes the tables (IF NOT EXISTS); it runs inside the transaction. */
  create: (db: Database.Database) => void;
  /** wrap turns a failure into the caller's coded error (coded errors pass through). */
  wrap: (e: unknown, op: string) => TrustError;
}

/** openVersionedSqlite opens (or creates) the database at `path` (':memory:' for a private one); see the module doc. */
export async function openVersionedSqlite(path: string, s: VersionedSqlite): Promise<Database.Database> {
  const created = path !== ':memory:' && !existsSync(path);
  let db: Database.Database;
  try {
    db = new Database(path);
  } catch (e) {
    throw s.wrap(e, `open ${path}`);
  }
  try {
    db.pragma(`busy_timeout = ${Math.max(0, Math.floor(s.busyTimeoutMs))}`);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    if (s.cacheKiB !== undefined) db.pragma(`cache_size = -${Math.max(1, Math.floor(s.cacheKiB))}`);
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version !== 0 && version !== s.version) {
      throw new ConfigError('ERR_CONFIG_INVALID', `${path}: expected ${s.what} ${s.version}, got ${version}`);
    }
    db.transaction(() => {
      s.create(db);
      db.pragma(`user_version = ${s.version}`);
    }).immediate();
  } catch (e) {
    db.close();
    throw s.wrap(e, `open ${path}`);
  }
  if (created) await syncDir(dirname(path)).catch(() => undefined);
  return db;
}
