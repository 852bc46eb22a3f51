/**
 * auth/certus-store-postgres — the {@link CertusStore} in PostgreSQL: tables `certus_*` in the auth schema
 * `<log schema>_auth`, so every daemon of one log shares permissions, provenance events and counters. A write
 * resolves after COMMIT; single use (duty 1) is one `UPDATE … WHERE used_at IS NULL … RETURNING`: row locking makes
 * exactly one of two concurrent updates, from any number of daemons, match.
 *
 * Trust boundary: the connection string may hold a password; it never appears in errors.
 */
import pg from 'pg';
import { IoError, TrustError } from '../errors.ts';
import { checkSchemaName, createVersionedSchema, describePostgres, postgresPool } from '../io/postgres.ts';
import { classifyUse, eventOf, permissionOf } from './certus-store-sqlite.ts';
import type { CertusStore, PermissionRecord, PermissionUse, ScanEvent, SignerCount } from './certus-store.ts';

export const CERTUS_POSTGRES_SCHEMA_VERSION = 1;

function wrap(e: unknown, op: string): TrustError {
  if (e instanceof TrustError) return e;
  const code = (e as { code?: unknown } | null)?.code;
  const msg = e instanceof Error ? e.message : String(e);
  return new IoError('ERR_AUTH_STORE', `certus store: ${op} failed: ${typeof code === 'string' ? `${code} ` : ''}${msg}`.slice(0, 300), { cause: e });
}

/** PostgresCertusStore implements CertusStore in one PostgreSQL schema. */
export class PostgresCertusStore implements CertusStore {
  readonly where: string;
  readonly #pool: pg.Pool;
  readonly #s: string;
  #closed = false;

  private constructor(where: string, pool: pg.Pool, schema: string) {
    this.where = where;
    this.#pool = pool;
    this.#s = `"${schema}"`;
  }

  static async open(connectionString: string, schema: string, poolSize = 4): Promise<PostgresCertusStore> {
    checkSchemaName(schema, 'postgres auth schema');
    const where = describePostgres(connectionString, schema);
    const pool = postgresPool(connectionString, poolSize);
    const s = new PostgresCertusStore(where, pool, schema);
    try {
      await createVersionedSchema(pool, {
        schema,
        where,
        lock: 'custody_certus_schema',
        versionQuery: `SELECT schema_version FROM ${s.#s}.certus_meta WHERE id = 0`,
        version: CERTUS_POSTGRES_SCHEMA_VERSION,
        what: 'certus schema',
        create: async (c) => {
          await c.query(`
            CREATE TABLE IF NOT EXISTS ${s.#s}.certus_meta (id integer PRIMARY KEY CHECK (id = 0), schema_version integer NOT NULL);
            INSERT INTO ${s.#s}.certus_meta(id, schema_version) VALUES (0, ${CERTUS_POSTGRES_SCHEMA_VERSION}) ON CONFLICT (id) DO NOTHING;
            CREATE TABLE IF NOT EXISTS ${s.#s}.certus_permissions (
              id text PRIMARY KEY, scan_id text NOT NULL, tier text NOT NULL, digest text NOT NULL, caller_id text NOT NULL,
              issued_at bigint NOT NULL, expires_at bigint NOT NULL, used_at bigint
            );
            CREATE TABLE IF NOT EXISTS ${s.#s}.certus_events (
              seq bigserial PRIMARY KEY, scan_id text NOT NULL, kind text NOT NULL, at bigint NOT NULL,
              actor text NOT NULL, result text NOT NULL, details text NOT NULL
            );
            CREATE INDEX IF NOT EXISTS certus_events_scan ON ${s.#s}.certus_events(scan_id, seq);
            CREATE TABLE IF NOT EXISTS ${s.#s}.certus_counters (name text PRIMARY KEY, value bigint NOT NULL);
          `);
        },
      });
    } catch (e) {
      await pool.end().catch(() => undefined);
      throw wrap(e, `open ${where}`);
    }
    return s;
  }

  async #run<T>(op: string, fn: () => Promise<T>): Promise<T> {
    try {
      if (this.#closed) throw new IoError('ERR_AUTH_STORE', 'certus store: closed');
      return await fn();
    } catch (e) {
      throw wrap(e, op);
    }
  }

  insertPermission(p: PermissionRecord): Promise<void> {
    return this.#run('insert permission', async () => {
      await this.#pool.query(
        `INSERT INTO ${this.#s}.certus_permissions(id, scan_id, tier, digest, caller_id, issued_at, expires_at, used_at) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)`,
        [p.id, p.scanId, p.tier, p.digest, p.callerId, p.issuedAt, p.expiresAt],
      );
    });
  }

  usePermission(id: string, digest: string, now: number): Promise<PermissionUse> {
    return this.#run('use permission', async () => {
      // Duty 1: the conditional update is the single-use decision, across every daemon of this database.
      const hit = await this.#pool.query(
        `UPDATE ${this.#s}.certus_permissions SET used_at = $1 WHERE id = $2 AND digest = $3 AND used_at IS NULL AND expires_at > $1 RETURNING id`,
        [now, id, digest],
      );
      if (hit.rowCount === 1) return 'used';
      const r = await this.#pool.query<{ digest: string; expires_at: string; used_at: string | null }>(
        `SELECT digest, expires_at, used_at FROM ${this.#s}.certus_permissions WHERE id = $1`,
        [id],
      );
      const row = r.rows[0];
      return classifyUse(row === undefined ? undefined : { digest: row.digest, expires_at: Number(row.expires_at), used_at: row.used_at === null ? null : Number(row.used_at) }, digest, now);
    });
  }

  getPermission(id: string): Promise<PermissionRecord | undefined> {
    return this.#run('get permission', async () => {
      const r = await this.#pool.query(`SELECT * FROM ${this.#s}.certus_permissions WHERE id = $1`, [id]);
      return r.rows[0] === undefined ? undefined : permissionOf(r.rows[0] as Parameters<typeof permissionOf>[0]);
    });
  }

  addEvent(e: ScanEvent): Promise<void> {
    return this.#run('add event', async () => {
      await this.#pool.query(`INSERT INTO ${this.#s}.certus_events(scan_id, kind, at, actor, result, details) VALUES ($1, $2, $3, $4, $5, $6)`, [
        e.scanId,
        e.kind,
        e.at,
        e.actor,
        e.result,
        JSON.stringify(e.details),
      ]);
    });
  }

  listEvents(scanId: string, limit: number): Promise<ScanEvent[]> {
    return this.#run('list events', async () => {
      const r = await this.#pool.query(`SELECT * FROM ${this.#s}.certus_events WHERE scan_id = $1 ORDER BY seq LIMIT $2`, [scanId, limit]);
      return r.rows.map((x) => eventOf(x as Parameters<typeof eventOf>[0]));
    });
  }

  bump(name: string, n = 1): Promise<void> {
    return this.#run('bump counter', async () => {
      await this.#pool.query(
        `INSERT INTO ${this.#s}.certus_counters(name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = ${this.#s}.certus_counters.value + excluded.value`,
        [name, n],
      );
    });
  }

  counters(): Promise<Record<string, number>> {
    return this.#run('read counters', async () => {
      const r = await this.#pool.query<{ name: string; value: string }>(`SELECT name, value FROM ${this.#s}.certus_counters ORDER BY name`);
      const out: Record<string, number> = {};
      for (const x of r.rows) out[x.name] = Number(x.value);
      return out;
    });
  }

  signerCounts(limit: number): Promise<{ total: number; signers: SignerCount[] }> {
    return this.#run('count signers', async () => {
      const has = await this.#pool.query(`SELECT to_regclass('${this.#s}.signatures') IS NOT NULL AS has`);
      if ((has.rows[0] as { has?: boolean } | undefined)?.has !== true) return { total: 0, signers: [] };
      const total = await this.#pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${this.#s}.signatures`);
      const rows = await this.#pool.query<{ signer: string; n: string }>(
        `SELECT signer, count(*) AS n FROM ${this.#s}.signatures GROUP BY signer ORDER BY count(*) DESC, signer LIMIT $1`,
        [limit],
      );
      return { total: Number(total.rows[0]?.n ?? 0), signers: rows.rows.map((r) => ({ signer: r.signer, count: Number(r.n) })) };
    });
  }

  ping(): Promise<void> {
    return this.#run('ping', async () => {
      await this.#pool.query(`SELECT count(*) FROM ${this.#s}.certus_meta`);
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.end().catch(() => undefined);
  }
}
