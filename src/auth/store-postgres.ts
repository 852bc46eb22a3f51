/**
 * auth/store-postgres — the {@link AuthStore} in PostgreSQL (node-postgres `pg`), used when the daemon keeps its log in
 * PostgreSQL (`--postgres-url-file`): the tables live in the schema `<log schema>_auth` (default `custody_log_auth`)
 * of the same database, so every daemon of one log shares tokens, identities and nonces.
 *
 * Durability as log/storage-postgres (a write resolves after COMMIT with synchronous_commit on). Linearizable reads
 * (duty 1): one primary, every read on a pooled connection sees every committed write. Single use (duty 2): one
 * `UPDATE … WHERE used_at IS NULL RETURNING` — row locking makes exactly one of two concurrent updates match.
 *
 * Trust boundary: the connection string may hold a password; it never appears in errors.
 */
import pg from 'pg';
import { IoError, TrustError, UsageError } from '../errors.ts';
import { checkSchemaName, createVersionedSchema, describePostgres, inTransaction, postgresPool } from '../io/postgres.ts';
import { scopesOf } from './store-sqlite.ts';
import type { AuthStore, ChallengeRecord, ConsumedChallenge, IdentityRecord, SignatureRecord, StoredToken, TokenRecord } from './store.ts';

export const AUTH_POSTGRES_SCHEMA_VERSION = 1;

type Raw = Record<string, unknown>;

function num(v: unknown): number | null {
  return v === null || v === undefined ? null : Number(v);
}
function str(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}

function wrap(e: unknown, op: string): TrustError {
  if (e instanceof TrustError) return e;
  const code = (e as { code?: unknown } | null)?.code;
  const msg = e instanceof Error ? e.message : String(e);
  return new IoError('ERR_AUTH_STORE', `auth store: ${op} failed: ${typeof code === 'string' ? `${code} ` : ''}${msg}`.slice(0, 300), { cause: e });
}

function tokenOf(r: Raw): TokenRecord {
  return {
    id: str(r.id) ?? '',
    name: str(r.name) ?? '',
    scopes: scopesOf(str(r.scopes) ?? ''),
    kind: r.kind === 'identity' ? 'identity' : 'api',
    identity: str(r.identity),
    createdAt: Number(r.created_at),
    expiresAt: num(r.expires_at),
    revokedAt: num(r.revoked_at),
  };
}

function identityOf(r: Raw): IdentityRecord {
  return { name: str(r.name) ?? '', publicKey: str(r.public_key) ?? '', scopes: scopesOf(str(r.scopes) ?? ''), createdAt: Number(r.created_at), revokedAt: num(r.revoked_at) };
}

function signatureOf(r: Raw): SignatureRecord {
  return {
    entryId: str(r.entry_id) ?? '',
    logIndex: Number(r.log_index),
    signer: str(r.signer) ?? '',
    callerId: str(r.caller_id) ?? '',
    artifact: str(r.artifact) ?? '',
    artifactType: str(r.artifact_type) ?? '',
    createdAt: Number(r.created_at),
    envelope: str(r.envelope) ?? '',
  };
}

/** PostgresAuthStore implements AuthStore in one PostgreSQL schema. Open it with {@link openPostgresAuthStore}. */
export class PostgresAuthStore implements AuthStore {
  readonly where: string;
  readonly #pool: pg.Pool;
  readonly #s: string;
  #closed = false;

  private constructor(where: string, pool: pg.Pool, schema: string) {
    this.where = where;
    this.#pool = pool;
    this.#s = `"${schema}"`;
  }

  static async open(connectionString: string, schema: string, poolSize = 4): Promise<PostgresAuthStore> {
    checkSchemaName(schema, 'postgres auth schema');
    const where = describePostgres(connectionString, schema);
    const pool = postgresPool(connectionString, poolSize);
    const s = new PostgresAuthStore(where, pool, schema);
    try {
      await createVersionedSchema(pool, {
        schema,
        where,
        lock: 'custody_auth_schema',
        versionQuery: `SELECT schema_version FROM ${s.#s}.meta WHERE id = 0`,
        version: AUTH_POSTGRES_SCHEMA_VERSION,
        what: 'auth schema',
        create: async (c) => {
          await c.query(`
            CREATE TABLE IF NOT EXISTS ${s.#s}.meta (id integer PRIMARY KEY CHECK (id = 0), schema_version integer NOT NULL);
            INSERT INTO ${s.#s}.meta(id, schema_version) VALUES (0, ${AUTH_POSTGRES_SCHEMA_VERSION}) ON CONFLICT (id) DO NOTHING;
            CREATE TABLE IF NOT EXISTS ${s.#s}.tokens (
              id text PRIMARY KEY, digest bytea NOT NULL, name text NOT NULL, scopes text NOT NULL, kind text NOT NULL,
              identity text, created_at bigint NOT NULL, expires_at bigint, revoked_at bigint
            );
            CREATE INDEX IF NOT EXISTS tokens_identity ON ${s.#s}.tokens(identity);
            CREATE TABLE IF NOT EXISTS ${s.#s}.identities (
              name text PRIMARY KEY, public_key text NOT NULL, scopes text NOT NULL, created_at bigint NOT NULL, revoked_at bigint
            );
            CREATE TABLE IF NOT EXISTS ${s.#s}.challenges (
              nonce text PRIMARY KEY, identity text NOT NULL, expires_at bigint NOT NULL, used_at bigint
            );
            CREATE INDEX IF NOT EXISTS challenges_identity ON ${s.#s}.challenges(identity, expires_at);
            CREATE TABLE IF NOT EXISTS ${s.#s}.signatures (
              entry_id text PRIMARY KEY, log_index bigint NOT NULL, signer text NOT NULL, caller_id text NOT NULL,
              artifact text NOT NULL, artifact_type text NOT NULL, created_at bigint NOT NULL, envelope text NOT NULL
            );
            CREATE INDEX IF NOT EXISTS signatures_signer ON ${s.#s}.signatures(signer, log_index);
            CREATE INDEX IF NOT EXISTS signatures_index ON ${s.#s}.signatures(log_index);
          `);
          // Keyless signing (auth/keyless-ca) and OIDC revocations (auth/oidc): added beside schema 1, created when missing.
          await c.query(`
            CREATE TABLE IF NOT EXISTS ${s.#s}.keyless_certificates (entry_id text PRIMARY KEY, certificate text NOT NULL);
            CREATE TABLE IF NOT EXISTS ${s.#s}.oidc_revocations (identity text PRIMARY KEY, revoked_at bigint NOT NULL);
          `);
        },
      });
    } catch (e) {
      await pool.end().catch(() => undefined);
      throw wrap(e, `open ${where}`);
    }
    return s;
  }

  #tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    return inTransaction(this.#pool, fn);
  }

  async #run<T>(op: string, fn: () => Promise<T>): Promise<T> {
    try {
      if (this.#closed) throw new IoError('ERR_AUTH_STORE', 'auth store: closed');
      return await fn();
    } catch (e) {
      throw wrap(e, op);
    }
  }

  insertToken(t: TokenRecord & { digest: Uint8Array }): Promise<void> {
    return this.#run('insert token', async () => {
      await this.#pool.query(
        `INSERT INTO ${this.#s}.tokens(id, digest, name, scopes, kind, identity, created_at, expires_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL)`,
        [t.id, Buffer.from(t.digest), t.name, t.scopes.join(','), t.kind, t.identity, t.createdAt, t.expiresAt],
      );
    });
  }

  findToken(id: string): Promise<StoredToken | undefined> {
    return this.#run('find token', async () => {
      const r = await this.#pool.query<Raw>(
        `SELECT t.*, i.revoked_at AS identity_revoked_at FROM ${this.#s}.tokens t LEFT JOIN ${this.#s}.identities i ON i.name = t.identity WHERE t.id = $1`,
        [id],
      );
      const row = r.rows[0];
      if (row === undefined) return undefined;
      const rec = tokenOf(row);
      const identityRevoked = rec.kind === 'identity' && (row.identity_revoked_at !== null || rec.identity === null);
      return { ...rec, digest: row.digest as Buffer, identityRevoked };
    });
  }

  listTokens(all = false): Promise<TokenRecord[]> {
    return this.#run('list tokens', async () => {
      const r = await this.#pool.query<Raw>(`SELECT * FROM ${this.#s}.tokens ${all ? '' : "WHERE kind = 'api' "}ORDER BY created_at, id`);
      return r.rows.map(tokenOf);
    });
  }

  revokeToken(id: string, now: number): Promise<boolean> {
    return this.#run('revoke token', async () => {
      await this.#pool.query(`UPDATE ${this.#s}.tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL`, [now, id]);
      const r = await this.#pool.query(`SELECT 1 FROM ${this.#s}.tokens WHERE id = $1`, [id]);
      return r.rows.length > 0;
    });
  }

  addIdentity(i: IdentityRecord): Promise<void> {
    return this.#run('add identity', async () => {
      const r = await this.#pool.query(
        `INSERT INTO ${this.#s}.identities(name, public_key, scopes, created_at, revoked_at) VALUES ($1, $2, $3, $4, NULL) ON CONFLICT (name) DO NOTHING`,
        [i.name, i.publicKey, i.scopes.join(','), i.createdAt],
      );
      if (r.rowCount !== 1) {
        throw new UsageError('ERR_AUTH_IDENTITY_EXISTS', `an identity named "${i.name}" exists (or existed: names of revoked identities are not reused)`);
      }
    });
  }

  getIdentity(name: string): Promise<IdentityRecord | undefined> {
    return this.#run('get identity', async () => {
      const r = await this.#pool.query<Raw>(`SELECT * FROM ${this.#s}.identities WHERE name = $1`, [name]);
      return r.rows[0] === undefined ? undefined : identityOf(r.rows[0]);
    });
  }

  listIdentities(): Promise<IdentityRecord[]> {
    return this.#run('list identities', async () => {
      const r = await this.#pool.query<Raw>(`SELECT * FROM ${this.#s}.identities ORDER BY created_at, name`);
      return r.rows.map(identityOf);
    });
  }

  revokeIdentity(name: string, now: number): Promise<boolean> {
    return this.#run('revoke identity', () =>
      this.#tx(async (c) => {
        const r = await c.query(`SELECT 1 FROM ${this.#s}.identities WHERE name = $1 FOR UPDATE`, [name]);
        if (r.rows.length === 0) return false;
        await c.query(`UPDATE ${this.#s}.identities SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL`, [now, name]);
        await c.query(`UPDATE ${this.#s}.tokens SET revoked_at = $1 WHERE identity = $2 AND revoked_at IS NULL`, [now, name]);
        return true;
      }),
    );
  }

  putChallenge(ch: ChallengeRecord, now: number, maxOutstanding: number): Promise<boolean> {
    return this.#run('store challenge', () =>
      this.#tx(async (c) => {
        await c.query(`DELETE FROM ${this.#s}.challenges WHERE expires_at <= $1`, [now]);
        await c.query(`DELETE FROM ${this.#s}.tokens WHERE kind = 'identity' AND expires_at <= $1`, [now - 86_400_000]);
        // Serialize the count-then-insert of one identity across daemons.
        await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`custody_auth_challenge:${ch.identity}`]);
        const n = await c.query<{ n: string }>(`SELECT count(*) AS n FROM ${this.#s}.challenges WHERE identity = $1 AND used_at IS NULL`, [ch.identity]);
        if (Number(n.rows[0]?.n ?? 0) >= maxOutstanding) return false;
        await c.query(`INSERT INTO ${this.#s}.challenges(nonce, identity, expires_at, used_at) VALUES ($1, $2, $3, NULL)`, [ch.nonce, ch.identity, ch.expiresAt]);
        return true;
      }),
    );
  }

  consumeChallenge(nonce: string, now: number): Promise<ConsumedChallenge | undefined> {
    return this.#run('consume challenge', async () => {
      const r = await this.#pool.query<Raw>(
        `UPDATE ${this.#s}.challenges SET used_at = $1 WHERE nonce = $2 AND used_at IS NULL RETURNING nonce, identity, expires_at`,
        [now, nonce],
      );
      const fresh = r.rows[0];
      if (fresh !== undefined) return { nonce: str(fresh.nonce) ?? '', identity: str(fresh.identity) ?? '', expiresAt: Number(fresh.expires_at), fresh: true };
      const u = await this.#pool.query<Raw>(`SELECT nonce, identity, expires_at FROM ${this.#s}.challenges WHERE nonce = $1`, [nonce]);
      const used = u.rows[0];
      return used === undefined ? undefined : { nonce: str(used.nonce) ?? '', identity: str(used.identity) ?? '', expiresAt: Number(used.expires_at), fresh: false };
    });
  }

  insertSignature(r: SignatureRecord): Promise<boolean> {
    return this.#run('insert signature', async () => {
      const res = await this.#pool.query(
        `INSERT INTO ${this.#s}.signatures(entry_id, log_index, signer, caller_id, artifact, artifact_type, created_at, envelope) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (entry_id) DO NOTHING`,
        [r.entryId, r.logIndex, r.signer, r.callerId, r.artifact, r.artifactType, r.createdAt, r.envelope],
      );
      return res.rowCount === 1;
    });
  }

  getSignature(entryId: string): Promise<SignatureRecord | undefined> {
    return this.#run('get signature', async () => {
      const r = await this.#pool.query<Raw>(`SELECT * FROM ${this.#s}.signatures WHERE entry_id = $1`, [entryId]);
      return r.rows[0] === undefined ? undefined : signatureOf(r.rows[0]);
    });
  }

  listSignatures(o: { signer?: string | undefined; limit: number; offset: number }): Promise<{ total: number; records: SignatureRecord[] }> {
    return this.#run('list signatures', async () => {
      const where = o.signer === undefined ? '' : 'WHERE signer = $1';
      const args: unknown[] = o.signer === undefined ? [] : [o.signer];
      const total = await this.#pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${this.#s}.signatures ${where}`, args);
      const rows = await this.#pool.query<Raw>(
        `SELECT * FROM ${this.#s}.signatures ${where} ORDER BY log_index LIMIT $${args.length + 1} OFFSET $${args.length + 2}`,
        [...args, o.limit, o.offset],
      );
      return { total: Number(total.rows[0]?.n ?? 0), records: rows.rows.map(signatureOf) };
    });
  }

  insertCertificate(entryId: string, pem: string): Promise<void> {
    return this.#run('insert certificate', async () => {
      await this.#pool.query(`INSERT INTO ${this.#s}.keyless_certificates(entry_id, certificate) VALUES ($1, $2) ON CONFLICT (entry_id) DO NOTHING`, [entryId, pem]);
    });
  }

  getCertificate(entryId: string): Promise<string | undefined> {
    return this.#run('get certificate', async () => {
      const r = await this.#pool.query<{ certificate: string }>(`SELECT certificate FROM ${this.#s}.keyless_certificates WHERE entry_id = $1`, [entryId]);
      return r.rows[0]?.certificate;
    });
  }

  revokeOidcIdentity(identity: string, now: number): Promise<boolean> {
    return this.#run('revoke oidc identity', async () => {
      const r = await this.#pool.query(`INSERT INTO ${this.#s}.oidc_revocations(identity, revoked_at) VALUES ($1, $2) ON CONFLICT (identity) DO NOTHING`, [identity, now]);
      return r.rowCount === 1;
    });
  }

  isOidcIdentityRevoked(identity: string): Promise<boolean> {
    return this.#run('check oidc identity', async () => {
      const r = await this.#pool.query(`SELECT 1 FROM ${this.#s}.oidc_revocations WHERE identity = $1`, [identity]);
      return r.rows.length > 0;
    });
  }

  ping(): Promise<void> {
    return this.#run('ping', async () => {
      await this.#pool.query(`SELECT count(*) FROM ${this.#s}.meta`);
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.end().catch(() => undefined);
  }
}

/** openPostgresAuthStore connects and opens (creating if needed) the auth tables in `schema`. */
export function openPostgresAuthStore(connectionString: string, schema: string): Promise<PostgresAuthStore> {
  return PostgresAuthStore.open(connectionString, schema);
}
