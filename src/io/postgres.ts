/**
 * io/postgres — what the PostgreSQL stores share (log/storage-postgres, auth/store-postgres,
 * auth/certus-store-postgres; node-postgres): a checked schema name, a description of the server that never shows
 * the connection string, a pool that survives an idle connection dying, transactions on one connection, and the
 * first open of a versioned schema: created with its tables in one transaction under an advisory lock (two daemons
 * starting on one database do not race), then its stored version checked.
 */
import pg from 'pg';
import { ConfigError } from '../errors.ts';

/** POSTGRES_IDENTIFIER is what a schema name may be: a lowercase identifier of at most 63 characters (NAMEDATALEN). */
const POSTGRES_IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

/** checkSchemaName refuses a schema name that is not a plain lowercase identifier (it is spliced into SQL quoted). */
export function checkSchemaName(schema: string, what: string): void {
  if (!POSTGRES_IDENTIFIER.test(schema)) {
    throw new ConfigError('ERR_CONFIG_INVALID', `${what}: expected a lowercase identifier of at most 63 characters, got ${JSON.stringify(schema.slice(0, 70))}`);
  }
}

/** describePostgres names the server (and schema) without credentials or query parameters. */
export function describePostgres(connectionString: string, schema?: string): string {
  try {
    const u = new URL(connectionString);
    return `postgres://${u.hostname || 'localhost'}${u.port ? `:${u.port}` : ''}${u.pathname}${schema === undefined ? '' : ` schema ${schema}`}`;
  } catch {
    return 'postgres (connection string not shown)';
  }
}

/** postgresPool makes a pool whose idle connections may die (a server restart) without crashing the process. */
export function postgresPool(connectionString: string, max: number, connectTimeoutMs = 10_000): pg.Pool {
  const pool = new pg.Pool({ connectionString, max, connectionTimeoutMillis: connectTimeoutMs });
  // The next query reports the failure; an 'error' event without a listener would throw.
  pool.on('error', () => undefined);
  return pool;
}

/**
 * inTransaction runs fn in one transaction on one connection and commits; any error rolls back and is rethrown.
 * With `lock`, the transaction first takes the advisory lock of that name (held until it ends).
 */
export async function inTransaction<T>(pool: pg.Pool, fn: (c: pg.PoolClient) => Promise<T>, lock?: string): Promise<T> {
  const c = await pool.connect();
  try {
    await c.query('BEGIN');
    if (lock !== undefined) await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [lock]);
    const r = await fn(c);
    await c.query('COMMIT');
    return r;
  } catch (e) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw e;
  } finally {
    c.release();
  }
}

export interface VersionedSchema {
  /** schema is the (checked) schema name. */
  schema: string;
  /** where names the store in messages (describePostgres). */
  where: string;
  /** lock is the advisory lock that serializes creating this kind of schema. */
  lock: string;
  /** create makes the tables (IF NOT EXISTS) and stores `version` in a new meta row. */
  create: (c: pg.PoolClient) => Promise<void>;
  /** versionQuery selects the stored version as one row with a `schema_version` column. */
  versionQuery: string;
  version: number;
  /** what names the schema kind in the refusal ("auth schema"). */
  what: string;
}

/**
 * createVersionedSchema creates the schema and its tables when missing and checks the stored version, in one
 * transaction under `lock`: ERR_CONFIG_INVALID for a schema of another version (never altered here).
 */
export async function createVersionedSchema(pool: pg.Pool, s: VersionedSchema): Promise<void> {
  checkSchemaName(s.schema, s.what); // the callers checked it; it is spliced into SQL below
  await inTransaction(
    pool,
    async (c) => {
      await c.query(`CREATE SCHEMA IF NOT EXISTS "${s.schema}"`);
      await s.create(c);
      const v = await c.query<{ schema_version: number | string }>(s.versionQuery);
      // A missing meta row reads as no version at all (refused); an int8 column would come back as text.
      const got = v.rows[0] === undefined ? undefined : Number(v.rows[0].schema_version);
      if (got !== s.version) throw new ConfigError('ERR_CONFIG_INVALID', `${s.where}: expected ${s.what} ${s.version}, got ${got === undefined ? 'no meta row' : String(got)}`);
    },
    s.lock,
  );
}
