/**
 * log/storage-postgres — a {@link LogStorage} in PostgreSQL (node-postgres `pg`), for logs whose state must live
 * in a database server (shared, replicated, backed up) rather than in the embedded SQLite file.
 *
 * Durability (duty 1): a write resolves when its COMMIT returned; with the server defaults `fsync = on` and
 * `synchronous_commit = on` the commit record was flushed to disk (and, with synchronous replication, to a standby)
 * first. `open` refuses a server where either is off, because an acknowledged entry could then be lost by a crash.
 *
 * Concurrency and atomicity (duties 2, 4, 5): every write is one transaction that first locks the single meta row
 * (`SELECT … FOR UPDATE`), so writers from any number of processes serialize on it; inside that transaction it checks
 * the lease owner (a fencing token) and the compare-and-swap condition, then writes, then commits — or rolls back
 * as a whole. Write-once (duty 3) is the PRIMARY KEY of `entries`, `hashes` and `tiles`: a second write of an index
 * fails with unique_violation (23505) → ERR_LOG_CONFLICT. Reads use other pooled connections and see every committed
 * write (one primary: linearizable).
 *
 * Schema (in the schema named by `options.schema`, default `custody_log`; `meta.schema_version` = 1):
 * ```
 * meta(id = 0, schema_version, tree_size, hash_count, checkpoint_size, checkpoint, lease_owner, lease_pid,
 *      lease_host, lease_expires)
 * entries(idx bigint PRIMARY KEY, data bytea)          -- entry idx, write-once
 * hashes(idx bigint PRIMARY KEY, hash bytea)           -- stored-hash index (Go tlog numbering), write-once
 * checkpoint_sizes(size bigint PRIMARY KEY)            -- every published tree size
 * tiles(level int, idx bigint, data bytea, PRIMARY KEY(level, idx))   -- full tiles and bundles, write-once
 * ```
 * Batches are written with one `INSERT … SELECT unnest($1::bigint[], $2::bytea[])` per table.
 *
 * Trust boundary: the connection string is operator configuration and may hold a password: it never appears in
 * errors or logs (messages name the host and database only).
 */
import pg from 'pg';
import { ConfigError, IoError, TrustError } from '../errors.ts';
import { checkSchemaName, createVersionedSchema, describePostgres, inTransaction, postgresPool } from '../io/postgres.ts';
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

/** POSTGRES_SCHEMA_VERSION is stored in meta.schema_version; an unknown version is refused. */
export const POSTGRES_SCHEMA_VERSION = 1;

export interface PostgresStorageOptions {
  /** schema holds the log's tables (one log per schema; default `custody_log`). */
  schema?: string;
  /** poolSize caps the connections (default 4: one writer, readers for the HTTP read path). */
  poolSize?: number;
  /** connectTimeoutMs bounds connecting (default 10,000 ms). */
  connectTimeoutMs?: number;
}

interface MetaRow {
  schema_version: number;
  tree_size: number;
  hash_count: number;
  checkpoint_size: number | null;
  checkpoint: string | null;
  lease_owner: string | null;
  lease_pid: number | null;
  lease_host: string | null;
  lease_expires: number | null;
}

/** num reads a bigint column (node-postgres returns int8 as text): every size and index is below 2^53. */
function num(v: string | number | null): number | null {
  return v === null ? null : Number(v);
}


/** wrap turns a pg failure into a coded error; coded errors pass through. Never includes the connection string. */
function wrap(e: unknown, op: string): TrustError {
  if (e instanceof TrustError) return e;
  const code = (e as { code?: unknown } | null)?.code;
  if (code === '23505') {
    // Write-once violated: another writer already wrote this index (duty 3).
    return new IoError('ERR_LOG_CONFLICT', `${op}: an index was already written (unique_violation)`, { cause: e });
  }
  const msg = e instanceof Error ? e.message : String(e);
  return new IoError('ERR_LOG_STORAGE', `${op} failed: ${typeof code === 'string' ? `${code} ` : ''}${msg}`.slice(0, 300), { cause: e });
}

/** PostgresStorage implements LogStorage in one PostgreSQL schema. Construct it with {@link openPostgresStorage}. */
export class PostgresStorage implements LogStorage {
  readonly where: string;
  readonly #pool: pg.Pool;
  readonly #t: { meta: string; entries: string; hashes: string; sizes: string; tiles: string };
  #closed = false;

  private constructor(where: string, pool: pg.Pool, schema: string) {
    this.where = where;
    this.#pool = pool;
    this.#t = {
      meta: `"${schema}".meta`,
      entries: `"${schema}".entries`,
      hashes: `"${schema}".hashes`,
      sizes: `"${schema}".checkpoint_sizes`,
      tiles: `"${schema}".tiles`,
    };
  }

  /** open connects, checks durability settings and creates the schema if needed. */
  static async open(connectionString: string, options: PostgresStorageOptions = {}): Promise<PostgresStorage> {
    const schema = options.schema ?? 'custody_log';
    checkSchemaName(schema, 'postgres schema');
    const where = describePostgres(connectionString);
    const pool = postgresPool(connectionString, options.poolSize ?? 4, options.connectTimeoutMs);
    const s = new PostgresStorage(where, pool, schema);
    try {
      const settings = await pool.query<{ name: string; setting: string }>(
        "SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit')",
      );
      for (const r of settings.rows) {
        if (r.setting === 'off') {
          throw new ConfigError('ERR_CONFIG_INVALID', `${where}: ${r.name} is off, so a commit may be lost by a crash`, {
            hint: `set ${r.name} = on on the server (the default); the log acknowledges entries only once they are durable`,
          });
        }
      }
      await createVersionedSchema(pool, {
        schema,
        where,
        lock: 'custody_log_schema',
        versionQuery: `SELECT schema_version FROM ${s.#t.meta} WHERE id = 0`,
        version: POSTGRES_SCHEMA_VERSION,
        what: 'log schema',
        create: async (c) => {
          await c.query(`
            CREATE TABLE IF NOT EXISTS ${s.#t.meta} (
              id integer PRIMARY KEY CHECK (id = 0),
              schema_version integer NOT NULL,
              tree_size bigint NOT NULL,
              hash_count bigint NOT NULL,
              checkpoint_size bigint,
              checkpoint text,
              lease_owner text,
              lease_pid integer,
              lease_host text,
              lease_expires bigint
            );
            CREATE TABLE IF NOT EXISTS ${s.#t.entries} (idx bigint PRIMARY KEY, data bytea NOT NULL);
            CREATE TABLE IF NOT EXISTS ${s.#t.hashes} (idx bigint PRIMARY KEY, hash bytea NOT NULL);
            CREATE TABLE IF NOT EXISTS ${s.#t.sizes} (size bigint PRIMARY KEY);
            CREATE TABLE IF NOT EXISTS ${s.#t.tiles} (level integer NOT NULL, idx bigint NOT NULL, data bytea NOT NULL, PRIMARY KEY (level, idx));
            INSERT INTO ${s.#t.meta}(id, schema_version, tree_size, hash_count) VALUES (0, ${POSTGRES_SCHEMA_VERSION}, 0, 0)
              ON CONFLICT (id) DO NOTHING;
          `);
        },
      });
    } catch (e) {
      await pool.end().catch(() => undefined);
      throw wrap(e, `open ${where}`);
    }
    return s;
  }

  #live(): void {
    if (this.#closed) throw new IoError('ERR_LOG_CLOSED', 'the log storage is closed');
  }

  /** #tx runs fn in one transaction on one connection and commits; any error rolls back (io/postgres). */
  #tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    return inTransaction(this.#pool, fn);
  }

  async #meta(c: pg.PoolClient | pg.Pool, lock: boolean): Promise<MetaRow> {
    type Raw = { [K in keyof MetaRow]: string | number | null };
    const r = await c.query<Raw>(`SELECT * FROM ${this.#t.meta} WHERE id = 0${lock ? ' FOR UPDATE' : ''}`);
    const m = r.rows[0];
    if (!m) throw new ConfigError('ERR_LOG_STATE_CORRUPT', `${this.where}: the meta row is missing`);
    return {
      schema_version: num(m.schema_version) ?? 0,
      tree_size: num(m.tree_size) ?? 0,
      hash_count: num(m.hash_count) ?? 0,
      checkpoint_size: num(m.checkpoint_size),
      checkpoint: m.checkpoint === null ? null : String(m.checkpoint),
      lease_owner: m.lease_owner === null ? null : String(m.lease_owner),
      lease_pid: num(m.lease_pid),
      lease_host: m.lease_host === null ? null : String(m.lease_host),
      lease_expires: num(m.lease_expires),
    };
  }

  #checkOwner(m: MetaRow, owner: string): void {
    if (m.lease_owner !== owner) {
      throw new IoError('ERR_LOG_LEASE_LOST', 'this process no longer holds the log lease', {
        details: { holderPid: m.lease_pid, holderHost: m.lease_host },
      });
    }
  }

  async load(): Promise<LogState> {
    try {
      this.#live();
      const m = await this.#meta(this.#pool, false);
      return {
        treeSize: m.tree_size,
        checkpoint: m.checkpoint === null || m.checkpoint_size === null ? null : { size: m.checkpoint_size, text: m.checkpoint },
      };
    } catch (e) {
      throw wrap(e, 'load');
    }
  }

  async acquireLease(request: LeaseRequest): Promise<void> {
    try {
      this.#live();
      const { holder, now, isDead } = request;
      await this.#tx(async (c) => {
        const m = await this.#meta(c, true);
        if (m.lease_owner !== null && m.lease_owner !== holder.owner) {
          const other: LeaseHolder = { owner: m.lease_owner, pid: m.lease_pid ?? 0, host: m.lease_host ?? '', expiresAt: m.lease_expires ?? 0 };
          if (other.expiresAt > now && !isDead(other)) {
            throw new ConfigError('ERR_LOG_LOCKED', `the log is held by pid ${other.pid} on ${other.host} until ${new Date(other.expiresAt).toISOString()}`, {
              details: { pid: other.pid, host: other.host, expiresAt: other.expiresAt },
            });
          }
        }
        await c.query(`UPDATE ${this.#t.meta} SET lease_owner = $1, lease_pid = $2, lease_host = $3, lease_expires = $4 WHERE id = 0`, [
          holder.owner,
          holder.pid,
          holder.host,
          holder.expiresAt,
        ]);
      });
    } catch (e) {
      throw wrap(e, 'acquire lease');
    }
  }

  async releaseLease(owner: string): Promise<void> {
    try {
      this.#live();
      await this.#pool.query(
        `UPDATE ${this.#t.meta} SET lease_owner = NULL, lease_pid = NULL, lease_host = NULL, lease_expires = NULL WHERE id = 0 AND lease_owner = $1`,
        [owner],
      );
    } catch (e) {
      throw wrap(e, 'release lease');
    }
  }

  async appendBatch(batch: AppendBatch): Promise<void> {
    try {
      this.#live();
      for (const e of batch.entries) if (e.length > MAX_ENTRY_BYTES) throw new Error(`tlog storage: entry of ${e.length} bytes`);
      for (const h of batch.hashes) if (h.length !== HASH_BYTES) throw new Error('tlog storage: a stored hash is not 32 bytes');
      await this.#tx(async (c) => {
        const m = await this.#meta(c, true);
        this.#checkOwner(m, batch.owner);
        // Compare-and-swap on the tree size (duty 4): only the writer that saw oldSize may extend it.
        if (m.tree_size !== batch.oldSize || m.hash_count !== batch.hashStart) {
          throw new IoError('ERR_LOG_CONFLICT', `expected tree size ${batch.oldSize} (${batch.hashStart} hashes), got ${m.tree_size} (${m.hash_count})`);
        }
        const buf = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.byteLength);
        if (batch.entries.length > 0) {
          await c.query(`INSERT INTO ${this.#t.entries}(idx, data) SELECT * FROM unnest($1::bigint[], $2::bytea[])`, [
            batch.entries.map((_, i) => batch.oldSize + i),
            batch.entries.map(buf),
          ]);
        }
        if (batch.hashes.length > 0) {
          await c.query(`INSERT INTO ${this.#t.hashes}(idx, hash) SELECT * FROM unnest($1::bigint[], $2::bytea[])`, [
            batch.hashes.map((_, i) => batch.hashStart + i),
            batch.hashes.map(buf),
          ]);
        }
        if (batch.tiles.length > 0) {
          await c.query(`INSERT INTO ${this.#t.tiles}(level, idx, data) SELECT * FROM unnest($1::int[], $2::bigint[], $3::bytea[])`, [
            batch.tiles.map((t) => t.level),
            batch.tiles.map((t) => t.index),
            batch.tiles.map((t) => buf(t.data)),
          ]);
        }
        await c.query(`UPDATE ${this.#t.meta} SET tree_size = $1, hash_count = $2 WHERE id = 0`, [
          batch.oldSize + batch.entries.length,
          batch.hashStart + batch.hashes.length,
        ]);
      });
      // Crash-safe point of the batch: COMMIT returned (flushed with synchronous_commit = on).
    } catch (e) {
      throw wrap(e, 'append batch');
    }
  }

  async publishCheckpoint(request: PublishRequest): Promise<void> {
    try {
      this.#live();
      const { expected, next } = request;
      await this.#tx(async (c) => {
        const m = await this.#meta(c, true);
        this.#checkOwner(m, request.owner);
        const same =
          expected === null
            ? m.checkpoint === null
            : m.checkpoint !== null && m.checkpoint_size === expected.size && m.checkpoint === expected.text;
        // Compare-and-swap on the latest checkpoint (duty 4).
        if (!same) {
          throw new IoError('ERR_LOG_CONFLICT', 'the published checkpoint changed under this process', {
            details: { expectedSize: expected?.size ?? null, currentSize: m.checkpoint_size },
          });
        }
        if (next.size > m.tree_size || (expected !== null && next.size < expected.size)) {
          throw new IoError('ERR_LOG_CONFLICT', `expected a checkpoint size in [${expected?.size ?? 0}, ${m.tree_size}], got ${next.size}`);
        }
        await c.query(`UPDATE ${this.#t.meta} SET checkpoint_size = $1, checkpoint = $2 WHERE id = 0`, [next.size, next.text]);
        await c.query(`INSERT INTO ${this.#t.sizes}(size) VALUES ($1) ON CONFLICT DO NOTHING`, [next.size]);
      });
    } catch (e) {
      throw wrap(e, 'publish checkpoint');
    }
  }

  async readHashes(indexes: readonly number[]): Promise<Uint8Array[]> {
    try {
      this.#live();
      if (indexes.length === 0) return [];
      const r = await this.#pool.query<{ idx: string; hash: Buffer }>(`SELECT idx, hash FROM ${this.#t.hashes} WHERE idx = ANY($1::bigint[])`, [
        [...new Set(indexes)],
      ]);
      const byIdx = new Map(r.rows.map((row) => [Number(row.idx), row.hash]));
      return indexes.map((i) => {
        const h = byIdx.get(i);
        if (h === undefined) throw new ConfigError('ERR_LOG_STATE_CORRUPT', `stored hash ${i} is missing`, { details: { index: i } });
        return h;
      });
    } catch (e) {
      throw wrap(e, 'read hashes');
    }
  }

  async readEntries(start: number, end: number): Promise<Uint8Array[]> {
    try {
      this.#live();
      const r = await this.#pool.query<{ data: Buffer }>(`SELECT data FROM ${this.#t.entries} WHERE idx >= $1 AND idx < $2 ORDER BY idx`, [start, end]);
      if (r.rows.length !== Math.max(0, end - start)) {
        throw new ConfigError('ERR_LOG_STATE_CORRUPT', `expected ${end - start} entries from ${start}, got ${r.rows.length}`);
      }
      return r.rows.map((row) => row.data);
    } catch (e) {
      throw wrap(e, 'read entries');
    }
  }

  async readTile(level: number, index: number): Promise<Uint8Array | null> {
    try {
      this.#live();
      const r = await this.#pool.query<{ data: Buffer }>(`SELECT data FROM ${this.#t.tiles} WHERE level = $1 AND idx = $2`, [level, index]);
      return r.rows[0]?.data ?? null;
    } catch (e) {
      throw wrap(e, 'read tile');
    }
  }

  async hasCheckpointSizeIn(lo: number, hi: number): Promise<boolean> {
    try {
      this.#live();
      const r = await this.#pool.query(`SELECT 1 FROM ${this.#t.sizes} WHERE size >= $1 AND size < $2 LIMIT 1`, [lo, hi]);
      return r.rows.length > 0;
    } catch (e) {
      throw wrap(e, 'read checkpoint sizes');
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.end().catch(() => undefined);
  }
}

/** openPostgresStorage connects to the database and opens (creating if needed) the log in `options.schema`. */
export function openPostgresStorage(connectionString: string, options: PostgresStorageOptions = {}): Promise<PostgresStorage> {
  return PostgresStorage.open(connectionString, options);
}
