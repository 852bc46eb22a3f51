/**
 * log/storage-sqlite — the embedded default {@link LogStorage}: one SQLite database (better-sqlite3) per log.
 *
 * Durability choice: `journal_mode=WAL` with `synchronous=FULL`. In WAL mode FULL fsyncs the write-ahead log at
 * every commit, so a resolved `appendBatch` survives kill -9 and power loss; NORMAL would only survive a process
 * crash (a power cut could lose the last commits, i.e. acknowledged entries). `publishCheckpoint` alone commits with
 * NORMAL: the next `appendBatch`'s fsync covers it, and a publish lost to a power cut in between is re-derived at
 * start (the crash argument is at that line; tlog/storage duty 1 allows it). The cost is one fsync per sequenced
 * batch, amortized over the whole batch. WAL lets the HTTP read path read while the sequencer writes.
 *
 * Concurrency: every write runs in a `BEGIN IMMEDIATE` transaction (the database write lock is taken first, so two
 * processes serialize instead of deadlocking), checks the lease owner and the compare-and-swap condition inside that
 * transaction, and commits or rolls back as a whole (duties 2 and 4 of tlog/storage). `busy_timeout` makes a second
 * process wait for the lock rather than fail at once. Write-once (duty 3) is the PRIMARY KEY of `entries` and
 * `hashes`: a second write of an index aborts the transaction.
 *
 * Schema (user_version 1):
 * ```
 * meta(id=0, tree_size, hash_count, checkpoint_size, checkpoint, lease_owner, lease_pid, lease_host, lease_expires)
 * entries(idx INTEGER PRIMARY KEY, data BLOB)        -- entry idx, write-once
 * hashes(idx INTEGER PRIMARY KEY, hash BLOB)         -- stored-hash index (Go tlog numbering), write-once
 * checkpoint_sizes(size INTEGER PRIMARY KEY)         -- every published tree size
 * tiles(level, idx, data, PRIMARY KEY(level, idx))   -- full tiles (level 0..63) and bundles (level -1), write-once
 * ```
 */
import type Database from 'better-sqlite3';
import { ConfigError, IoError, TrustError } from '../errors.ts';
import { openVersionedSqlite } from '../io/sqlite.ts';
import { HASH_BYTES } from '../tlog/merkle.ts';
import {
  MAX_ENTRY_BYTES,
  type AppendBatch,
  type LeaseHolder,
  type LeaseRequest,
  type LogState,
  type LogStorage,
  type PublishRequest,
} from './storage.ts';

/** SQLITE_PAGE_CACHE_KIB is SQLite's page cache per connection (its default is 2 MiB). */
const SQLITE_PAGE_CACHE_KIB = 32 * 1024;

/** SCHEMA_VERSION is stored in PRAGMA user_version; an unknown version is refused. */
export const SQLITE_SCHEMA_VERSION = 1;

export interface SqliteStorageOptions {
  /** busyTimeoutMs is how long a write waits for another process's write lock (default 5,000 ms). */
  busyTimeoutMs?: number;
}

interface MetaRow {
  tree_size: number;
  hash_count: number;
  checkpoint_size: number | null;
  checkpoint: string | null;
  lease_owner: string | null;
  lease_pid: number | null;
  lease_host: string | null;
  lease_expires: number | null;
}

function sqliteCode(e: unknown): string {
  const c = (e as { code?: unknown } | null)?.code;
  return typeof c === 'string' ? c : '';
}

/** wrap turns a better-sqlite3 failure into a coded error; coded errors pass through. */
function wrap(e: unknown, op: string): TrustError {
  if (e instanceof TrustError) return e;
  const code = sqliteCode(e);
  if (code.startsWith('SQLITE_CONSTRAINT')) {
    // Write-once violated: another writer already wrote this index (duty 3).
    return new IoError('ERR_LOG_CONFLICT', `${op}: an index was already written (${code})`, { cause: e });
  }
  return new IoError('ERR_LOG_STORAGE', `${op} failed: ${code || (e instanceof Error ? e.message : String(e))}`, {
    cause: e,
  });
}

/** SqliteStorage implements LogStorage over one SQLite file. Construct it with {@link openSqliteStorage}. */
export class SqliteStorage implements LogStorage {
  readonly path: string;
  readonly #db: Database.Database;
  #closed = false;
  readonly #stmt: {
    meta: Database.Statement<[], MetaRow>;
    insertEntry: Database.Statement<[number, Uint8Array]>;
    insertHash: Database.Statement<[number, Uint8Array]>;
    setTree: Database.Statement<[number, number, number, number]>;
    setCheckpoint: Database.Statement<[number, string]>;
    addSize: Database.Statement<[number]>;
    getHash: Database.Statement<[number], Buffer>;
    insertTile: Database.Statement<[number, number, Uint8Array]>;
    getTile: Database.Statement<[number, number], Buffer>;
    entries: Database.Statement<[number, number], Buffer>;
    sizeIn: Database.Statement<[number, number], number>;
    setLease: Database.Statement<[string | null, number | null, string | null, number | null]>;
  };

  private constructor(path: string, db: Database.Database) {
    this.path = path;
    this.#db = db;
    this.#stmt = {
      meta: db.prepare('SELECT * FROM meta WHERE id = 0'),
      insertEntry: db.prepare('INSERT INTO entries(idx, data) VALUES (?, ?)'),
      insertHash: db.prepare('INSERT INTO hashes(idx, hash) VALUES (?, ?)'),
      setTree: db.prepare(
        'UPDATE meta SET tree_size = ?, hash_count = ? WHERE id = 0 AND tree_size = ? AND hash_count = ?',
      ),
      setCheckpoint: db.prepare('UPDATE meta SET checkpoint_size = ?, checkpoint = ? WHERE id = 0'),
      addSize: db.prepare('INSERT OR IGNORE INTO checkpoint_sizes(size) VALUES (?)'),
      getHash: db.prepare<[number], Buffer>('SELECT hash FROM hashes WHERE idx = ?').pluck(),
      insertTile: db.prepare('INSERT INTO tiles(level, idx, data) VALUES (?, ?, ?)'),
      getTile: db.prepare<[number, number], Buffer>('SELECT data FROM tiles WHERE level = ? AND idx = ?').pluck(),
      entries: db.prepare<[number, number], Buffer>('SELECT data FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx').pluck(),
      sizeIn: db
        .prepare<[number, number], number>('SELECT 1 FROM checkpoint_sizes WHERE size >= ? AND size < ? LIMIT 1')
        .pluck(),
      setLease: db.prepare(
        'UPDATE meta SET lease_owner = ?, lease_pid = ?, lease_host = ?, lease_expires = ? WHERE id = 0',
      ),
    };
  }

  /** open creates or opens the database at path (':memory:' for a private in-memory database). */
  static async open(path: string, options: SqliteStorageOptions = {}): Promise<SqliteStorage> {
    const db = await openVersionedSqlite(path, {
      version: SQLITE_SCHEMA_VERSION,
      what: 'log schema',
      busyTimeoutMs: options.busyTimeoutMs ?? 5_000,
      cacheKiB: SQLITE_PAGE_CACHE_KIB,
      wrap,
      create: (db) => {
        db.exec(`
          CREATE TABLE IF NOT EXISTS meta (
            id INTEGER PRIMARY KEY CHECK (id = 0),
            tree_size INTEGER NOT NULL,
            hash_count INTEGER NOT NULL,
            checkpoint_size INTEGER,
            checkpoint TEXT,
            lease_owner TEXT,
            lease_pid INTEGER,
            lease_host TEXT,
            lease_expires INTEGER
          );
          CREATE TABLE IF NOT EXISTS entries (idx INTEGER PRIMARY KEY, data BLOB NOT NULL);
          CREATE TABLE IF NOT EXISTS hashes (idx INTEGER PRIMARY KEY, hash BLOB NOT NULL);
          CREATE TABLE IF NOT EXISTS checkpoint_sizes (size INTEGER PRIMARY KEY) WITHOUT ROWID;
          CREATE TABLE IF NOT EXISTS tiles (level INTEGER NOT NULL, idx INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (level, idx));
          INSERT OR IGNORE INTO meta(id, tree_size, hash_count) VALUES (0, 0, 0);
        `);
      },
    });
    return new SqliteStorage(path, db);
  }

  #live(): void {
    if (this.#closed) throw new IoError('ERR_LOG_CLOSED', 'the log storage is closed');
  }

  #meta(): MetaRow {
    const m = this.#stmt.meta.get();
    if (!m) throw new ConfigError('ERR_LOG_STATE_CORRUPT', `${this.path}: the meta row is missing`);
    return m;
  }

  #checkOwner(m: MetaRow, owner: string): void {
    if (m.lease_owner !== owner) {
      throw new IoError('ERR_LOG_LEASE_LOST', 'this process no longer holds the log lease', {
        details: { holderPid: m.lease_pid, holderHost: m.lease_host },
      });
    }
  }

  load(): Promise<LogState> {
    try {
      this.#live();
      const m = this.#meta();
      return Promise.resolve({
        treeSize: m.tree_size,
        checkpoint:
          m.checkpoint === null || m.checkpoint_size === null ? null : { size: m.checkpoint_size, text: m.checkpoint },
      });
    } catch (e) {
      return Promise.reject(wrap(e, 'load'));
    }
  }

  acquireLease(request: LeaseRequest): Promise<void> {
    try {
      this.#live();
      const { holder, now, isDead } = request;
      this.#db
        .transaction(() => {
          const m = this.#meta();
          if (m.lease_owner !== null && m.lease_owner !== holder.owner) {
            const other: LeaseHolder = {
              owner: m.lease_owner,
              pid: m.lease_pid ?? 0,
              host: m.lease_host ?? '',
              expiresAt: m.lease_expires ?? 0,
            };
            if (other.expiresAt > now && !isDead(other)) {
              throw new ConfigError(
                'ERR_LOG_LOCKED',
                `the log is held by pid ${other.pid} on ${other.host} until ${new Date(other.expiresAt).toISOString()}`,
                { details: { pid: other.pid, host: other.host, expiresAt: other.expiresAt } },
              );
            }
          }
          this.#stmt.setLease.run(holder.owner, holder.pid, holder.host, holder.expiresAt);
        })
        .immediate();
      return Promise.resolve();
    } catch (e) {
      return Promise.reject(wrap(e, 'acquire lease'));
    }
  }

  releaseLease(owner: string): Promise<void> {
    try {
      this.#live();
      this.#db
        .transaction(() => {
          if (this.#meta().lease_owner === owner) this.#stmt.setLease.run(null, null, null, null);
        })
        .immediate();
      return Promise.resolve();
    } catch (e) {
      return Promise.reject(wrap(e, 'release lease'));
    }
  }

  appendBatch(batch: AppendBatch): Promise<void> {
    try {
      this.#live();
      for (const e of batch.entries) {
        if (e.length > MAX_ENTRY_BYTES) throw new Error(`tlog storage: entry of ${e.length} bytes`);
      }
      for (const h of batch.hashes) {
        if (h.length !== HASH_BYTES) throw new Error('tlog storage: a stored hash is not 32 bytes');
      }
      this.#db
        .transaction(() => {
          const m = this.#meta();
          this.#checkOwner(m, batch.owner);
          // Compare-and-swap on the tree size (duty 4): only the writer that saw oldSize may extend it.
          if (m.tree_size !== batch.oldSize || m.hash_count !== batch.hashStart) {
            throw new IoError(
              'ERR_LOG_CONFLICT',
              `expected tree size ${batch.oldSize} (${batch.hashStart} hashes), got ${m.tree_size} (${m.hash_count})`,
            );
          }
          let i = batch.oldSize;
          for (const e of batch.entries) this.#stmt.insertEntry.run(i++, e);
          let h = batch.hashStart;
          for (const x of batch.hashes) this.#stmt.insertHash.run(h++, x);
          for (const t of batch.tiles) this.#stmt.insertTile.run(t.level, t.index, t.data);
          const r = this.#stmt.setTree.run(i, h, batch.oldSize, batch.hashStart);
          if (r.changes !== 1) throw new IoError('ERR_LOG_CONFLICT', 'the tree size changed during the batch');
        })
        .immediate();
      // Crash-safe point of the batch: COMMIT returned, so the WAL frame was fsynced (synchronous=FULL).
      return Promise.resolve();
    } catch (e) {
      return Promise.reject(wrap(e, 'append batch'));
    }
  }

  publishCheckpoint(request: PublishRequest): Promise<void> {
    try {
      this.#live();
      const { expected, next } = request;
      // No fsync for this commit (synchronous=NORMAL for it alone; one fewer fsync per batch, the larger part of
      // publishing's cost). Crash argument: a kill -9 cannot lose it (the WAL frames are in the OS page cache,
      // which outlives the process). An OS crash or power cut before the next fsync can; then:
      // - the next appendBatch commits with synchronous=FULL, and its fsync of the write-ahead log covers every
      //   earlier frame, this commit's included, so the window ends at the next batch;
      // - if the power goes inside the window, the stored checkpoint is an older one of the SAME durable tree
      //   (appendBatch made `next.size` durable before this call, duty 5), and the sequencer's start publishes a
      //   checkpoint covering the whole durable tree before it accepts anything (retrying a few times; if that
      //   keeps failing, e.g. witnesses down, the older checkpoint is served meanwhile: smaller, never a fork).
      //   Every checkpoint a client was given (with its acknowledgement) is therefore of a prefix of the tree the
      //   log signs next: no acknowledged entry is lost and no inconsistent checkpoint is ever signed. What the
      //   window can cost is a checkpoint-size record (checkpoint_sizes) of a size the next checkpoint goes past.
      // (db.pragma, not a prepared statement: SQLite applies this pragma when the statement is compiled.)
      this.#db.pragma('synchronous = NORMAL');
      this.#db
        .transaction(() => {
          const m = this.#meta();
          this.#checkOwner(m, request.owner);
          const curText = m.checkpoint;
          const same =
            expected === null
              ? curText === null
              : curText !== null && m.checkpoint_size === expected.size && curText === expected.text;
          // Compare-and-swap on the latest checkpoint (duty 4).
          if (!same) {
            throw new IoError('ERR_LOG_CONFLICT', 'the published checkpoint changed under this process', {
              details: { expectedSize: expected?.size ?? null, currentSize: m.checkpoint_size },
            });
          }
          if (next.size > m.tree_size || (expected !== null && next.size < expected.size)) {
            throw new IoError(
              'ERR_LOG_CONFLICT',
              `expected a checkpoint size in [${expected?.size ?? 0}, ${m.tree_size}], got ${next.size}`,
            );
          }
          this.#stmt.setCheckpoint.run(next.size, next.text);
          this.#stmt.addSize.run(next.size);
        })
        .immediate();
      return Promise.resolve();
    } catch (e) {
      return Promise.reject(wrap(e, 'publish checkpoint'));
    } finally {
      if (this.#db.open) this.#db.pragma('synchronous = FULL');
    }
  }

  /** readHashesSync is the synchronous form of readHashes (better-sqlite3 is synchronous). */
  readHashesSync(indexes: readonly number[]): Uint8Array[] {
    this.#live();
    const out: Uint8Array[] = [];
    try {
      for (const i of indexes) {
        const h = this.#stmt.getHash.get(i);
        if (h === undefined) {
          throw new ConfigError('ERR_LOG_STATE_CORRUPT', `stored hash ${i} is missing`, { details: { index: i } });
        }
        out.push(h);
      }
    } catch (e) {
      throw wrap(e, 'read hashes');
    }
    return out;
  }

  readHashes(indexes: readonly number[]): Promise<Uint8Array[]> {
    try {
      return Promise.resolve(this.readHashesSync(indexes));
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
  }

  readEntries(start: number, end: number): Promise<Uint8Array[]> {
    try {
      this.#live();
      const rows = this.#stmt.entries.all(start, end);
      if (rows.length !== Math.max(0, end - start)) {
        throw new ConfigError('ERR_LOG_STATE_CORRUPT', `expected ${end - start} entries from ${start}, got ${rows.length}`);
      }
      return Promise.resolve(rows);
    } catch (e) {
      return Promise.reject(wrap(e, 'read entries'));
    }
  }

  readTile(level: number, index: number): Promise<Uint8Array | null> {
    try {
      this.#live();
      return Promise.resolve(this.#stmt.getTile.get(level, index) ?? null);
    } catch (e) {
      return Promise.reject(wrap(e, 'read tile'));
    }
  }

  hasCheckpointSizeIn(lo: number, hi: number): Promise<boolean> {
    try {
      this.#live();
      return Promise.resolve(this.#stmt.sizeIn.get(lo, hi) !== undefined);
    } catch (e) {
      return Promise.reject(wrap(e, 'read checkpoint sizes'));
    }
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#db.close();
    }
    return Promise.resolve();
  }
}

/** openSqliteStorage opens (creating if needed) the log database at path. */
export function openSqliteStorage(path: string, options: SqliteStorageOptions = {}): Promise<SqliteStorage> {
  return SqliteStorage.open(path, options);
}
