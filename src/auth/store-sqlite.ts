/**
 * auth/store-sqlite — the embedded {@link AuthStore}: one SQLite database (better-sqlite3), `DATA/auth.db`, shared by
 * the daemon and the `custody token` / `custody identity` commands (which write while the daemon runs).
 *
 * Durability and concurrency as in log/storage-sqlite: WAL with synchronous=FULL (a resolved revoke survives a power
 * cut), every write a `BEGIN IMMEDIATE` transaction, `busy_timeout` so a second process waits for the write lock.
 * WAL readers see every committed write at their next statement (auth/store duty 1). Single use of a nonce is one
 * `UPDATE … WHERE used_at IS NULL RETURNING` (duty 2): SQLite serializes writers, so one update wins.
 *
 * Schema (user_version 1):
 * ```
 * tokens(id TEXT PRIMARY KEY, digest BLOB, name, scopes "a,b", kind, identity, created_at, expires_at, revoked_at)
 * identities(name TEXT PRIMARY KEY, public_key hex, scopes, created_at, revoked_at)
 * challenges(nonce TEXT PRIMARY KEY, identity, expires_at, used_at)
 * signatures(entry_id TEXT PRIMARY KEY, log_index, signer, caller_id, artifact, artifact_type, created_at, envelope)
 * keyless_certificates(entry_id TEXT PRIMARY KEY, certificate PEM)      (created when missing, schema 1 unchanged)
 * oidc_revocations(identity TEXT PRIMARY KEY, revoked_at)
 * ```
 */
import type Database from 'better-sqlite3';
import { IoError, TrustError, UsageError } from '../errors.ts';
import { openVersionedSqlite } from '../io/sqlite.ts';
import {
  isScope,
  splitScopes,
  type AuthStore,
  type ChallengeRecord,
  type ConsumedChallenge,
  type IdentityRecord,
  type Scope,
  type SignatureRecord,
  type StoredToken,
  type TokenRecord,
} from './store.ts';

export const AUTH_SQLITE_SCHEMA_VERSION = 1;

interface TokenRow {
  id: string;
  digest: Buffer;
  name: string;
  scopes: string;
  kind: string;
  identity: string | null;
  created_at: number;
  expires_at: number | null;
  revoked_at: number | null;
  identity_revoked_at?: number | null;
}
interface IdentityRow {
  name: string;
  public_key: string;
  scopes: string;
  created_at: number;
  revoked_at: number | null;
}
interface ChallengeRow {
  nonce: string;
  identity: string;
  expires_at: number;
}

interface SignatureRow {
  entry_id: string;
  log_index: number;
  signer: string;
  caller_id: string;
  artifact: string;
  artifact_type: string;
  created_at: number;
  envelope: string;
}

function signatureOf(r: SignatureRow): SignatureRecord {
  return {
    entryId: r.entry_id,
    logIndex: r.log_index,
    signer: r.signer,
    callerId: r.caller_id,
    artifact: r.artifact,
    artifactType: r.artifact_type,
    createdAt: r.created_at,
    envelope: r.envelope,
  };
}

/** wrap turns a SQLite failure into ERR_AUTH_STORE; coded errors pass through. */
function wrap(e: unknown, op: string): TrustError {
  if (e instanceof TrustError) return e;
  const code = (e as { code?: unknown } | null)?.code;
  return new IoError('ERR_AUTH_STORE', `auth store: ${op} failed: ${typeof code === 'string' ? code : e instanceof Error ? e.message : String(e)}`, { cause: e });
}

/** scopesOf reads a stored scope list, dropping anything that is not a scope (a newer writer's scope). */
export function scopesOf(text: string): Scope[] {
  return splitScopes(text).filter(isScope);
}

function tokenOf(r: TokenRow): TokenRecord {
  return {
    id: r.id,
    name: r.name,
    scopes: scopesOf(r.scopes),
    kind: r.kind === 'identity' ? 'identity' : 'api',
    identity: r.identity,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    revokedAt: r.revoked_at,
  };
}

function identityOf(r: IdentityRow): IdentityRecord {
  return { name: r.name, publicKey: r.public_key, scopes: scopesOf(r.scopes), createdAt: r.created_at, revokedAt: r.revoked_at };
}

/** attempt runs a synchronous store operation as a promise, wrapping failures. */
function attempt<T>(op: string, fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (e) {
    return Promise.reject(wrap(e, op));
  }
}

/** SqliteAuthStore implements AuthStore over one SQLite file. Open it with {@link openSqliteAuthStore}. */
export class SqliteAuthStore implements AuthStore {
  readonly where: string;
  readonly #db: Database.Database;
  readonly #statements = new Map<string, Database.Statement>();
  #closed = false;

  private constructor(path: string, db: Database.Database) {
    this.where = path;
    this.#db = db;
  }

  static async open(path: string, busyTimeoutMs = 5_000): Promise<SqliteAuthStore> {
    const db = await openVersionedSqlite(path, {
      version: AUTH_SQLITE_SCHEMA_VERSION,
      what: 'auth schema',
      busyTimeoutMs: busyTimeoutMs,
      wrap,
      create: (db) => {
        db.exec(`
          CREATE TABLE IF NOT EXISTS tokens (
            id TEXT PRIMARY KEY, digest BLOB NOT NULL, name TEXT NOT NULL, scopes TEXT NOT NULL, kind TEXT NOT NULL,
            identity TEXT, created_at INTEGER NOT NULL, expires_at INTEGER, revoked_at INTEGER
          );
          CREATE INDEX IF NOT EXISTS tokens_identity ON tokens(identity);
          CREATE TABLE IF NOT EXISTS identities (
            name TEXT PRIMARY KEY, public_key TEXT NOT NULL, scopes TEXT NOT NULL, created_at INTEGER NOT NULL, revoked_at INTEGER
          );
          CREATE TABLE IF NOT EXISTS challenges (
            nonce TEXT PRIMARY KEY, identity TEXT NOT NULL, expires_at INTEGER NOT NULL, used_at INTEGER
          );
          CREATE INDEX IF NOT EXISTS challenges_identity ON challenges(identity, expires_at);
          CREATE TABLE IF NOT EXISTS signatures (
            entry_id TEXT PRIMARY KEY, log_index INTEGER NOT NULL, signer TEXT NOT NULL, caller_id TEXT NOT NULL,
            artifact TEXT NOT NULL, artifact_type TEXT NOT NULL, created_at INTEGER NOT NULL, envelope TEXT NOT NULL
          );
          CREATE INDEX IF NOT EXISTS signatures_signer ON signatures(signer, log_index);
          CREATE INDEX IF NOT EXISTS signatures_index ON signatures(log_index);
        `);
        // Keyless signing (auth/keyless-ca) and OIDC revocations (auth/oidc): added beside schema 1, created when missing.
        db.exec(`
          CREATE TABLE IF NOT EXISTS keyless_certificates (entry_id TEXT PRIMARY KEY, certificate TEXT NOT NULL);
          CREATE TABLE IF NOT EXISTS oidc_revocations (identity TEXT PRIMARY KEY, revoked_at INTEGER NOT NULL);
        `);
      },
    });
    return new SqliteAuthStore(path, db);
  }

  /**
   * #prepare returns the compiled statement of `sql`, compiled once per store: every request reads a token, and
   * compiling its statement cost more than running it. The SQL texts are this class's constants (a few variants
   * each), so the cache is bounded.
   */
  #prepare<P extends unknown[] = unknown[], R = unknown>(sql: string): Database.Statement<P, R> {
    let st = this.#statements.get(sql);
    if (st === undefined) {
      st = this.#db.prepare(sql);
      this.#statements.set(sql, st);
    }
    return st as Database.Statement<P, R>;
  }

  #live(): void {
    if (this.#closed) throw new IoError('ERR_AUTH_STORE', 'auth store: closed');
  }

  insertToken(t: TokenRecord & { digest: Uint8Array }): Promise<void> {
    return attempt('insert token', () => {
      this.#live();
      this.#prepare('INSERT INTO tokens(id, digest, name, scopes, kind, identity, created_at, expires_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)').run(
        t.id, Buffer.from(t.digest), t.name, t.scopes.join(','), t.kind, t.identity, t.createdAt, t.expiresAt,
      );
    });
  }

  findToken(id: string): Promise<StoredToken | undefined> {
    return attempt('find token', () => {
      this.#live();
      const r = this.#prepare<[string], TokenRow>('SELECT t.*, i.revoked_at AS identity_revoked_at FROM tokens t LEFT JOIN identities i ON i.name = t.identity WHERE t.id = ?').get(id);
      if (r === undefined) return undefined;
      // An identity token whose identity row is gone counts as revoked.
      const identityRevoked = r.kind === 'identity' && (r.identity_revoked_at !== null || r.identity === null);
      return { ...tokenOf(r), digest: r.digest, identityRevoked };
    });
  }

  listTokens(all = false): Promise<TokenRecord[]> {
    return attempt('list tokens', () => {
      this.#live();
      const sql = `SELECT * FROM tokens ${all ? '' : "WHERE kind = 'api' "}ORDER BY created_at, id`;
      return this.#prepare<[], TokenRow>(sql).all().map(tokenOf);
    });
  }

  revokeToken(id: string, now: number): Promise<boolean> {
    return attempt('revoke token', () => {
      this.#live();
      return this.#db
        .transaction(() => {
          const exists = this.#prepare('SELECT 1 FROM tokens WHERE id = ?').get(id) !== undefined;
          this.#prepare('UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(now, id);
          return exists;
        })
        .immediate();
    });
  }

  addIdentity(i: IdentityRecord): Promise<void> {
    return attempt('add identity', () => {
      this.#live();
      this.#db
        .transaction(() => {
          if (this.#prepare('SELECT 1 FROM identities WHERE name = ?').get(i.name) !== undefined) {
            throw new UsageError('ERR_AUTH_IDENTITY_EXISTS', `an identity named "${i.name}" exists (or existed: names of revoked identities are not reused)`);
          }
          this.#prepare('INSERT INTO identities(name, public_key, scopes, created_at, revoked_at) VALUES (?, ?, ?, ?, NULL)').run(i.name, i.publicKey, i.scopes.join(','), i.createdAt);
        })
        .immediate();
    });
  }

  getIdentity(name: string): Promise<IdentityRecord | undefined> {
    return attempt('get identity', () => {
      this.#live();
      const r = this.#prepare<[string], IdentityRow>('SELECT * FROM identities WHERE name = ?').get(name);
      return r === undefined ? undefined : identityOf(r);
    });
  }

  listIdentities(): Promise<IdentityRecord[]> {
    return attempt('list identities', () => {
      this.#live();
      return this.#prepare<[], IdentityRow>('SELECT * FROM identities ORDER BY created_at, name').all().map(identityOf);
    });
  }

  revokeIdentity(name: string, now: number): Promise<boolean> {
    return attempt('revoke identity', () => {
      this.#live();
      return this.#db
        .transaction(() => {
          const exists = this.#prepare('SELECT 1 FROM identities WHERE name = ?').get(name) !== undefined;
          if (!exists) return false;
          this.#prepare('UPDATE identities SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL').run(now, name);
          // Duty 3: its tokens die in the same transaction.
          this.#prepare('UPDATE tokens SET revoked_at = ? WHERE identity = ? AND revoked_at IS NULL').run(now, name);
          return true;
        })
        .immediate();
    });
  }

  putChallenge(c: ChallengeRecord, now: number, maxOutstanding: number): Promise<boolean> {
    return attempt('store challenge', () => {
      this.#live();
      return this.#db
        .transaction(() => {
          // Sweep: nonces past their expiry are useless; identity tokens a day past expiry are only clutter.
          this.#prepare('DELETE FROM challenges WHERE expires_at <= ?').run(now);
          this.#prepare("DELETE FROM tokens WHERE kind = 'identity' AND expires_at <= ?").run(now - 86_400_000);
          const n = this.#prepare<[string], number>('SELECT count(*) FROM challenges WHERE identity = ? AND used_at IS NULL').pluck().get(c.identity);
          if ((n ?? 0) >= maxOutstanding) return false;
          this.#prepare('INSERT INTO challenges(nonce, identity, expires_at, used_at) VALUES (?, ?, ?, NULL)').run(c.nonce, c.identity, c.expiresAt);
          return true;
        })
        .immediate();
    });
  }

  consumeChallenge(nonce: string, now: number): Promise<ConsumedChallenge | undefined> {
    return attempt('consume challenge', () => {
      this.#live();
      return this.#db
        .transaction(() => {
          // Duty 2: the conditional update is the single-use decision.
          const fresh = this.#prepare<[number, string], ChallengeRow>('UPDATE challenges SET used_at = ? WHERE nonce = ? AND used_at IS NULL RETURNING nonce, identity, expires_at').get(now, nonce);
          if (fresh !== undefined) return { nonce: fresh.nonce, identity: fresh.identity, expiresAt: fresh.expires_at, fresh: true };
          const used = this.#prepare<[string], ChallengeRow>('SELECT nonce, identity, expires_at FROM challenges WHERE nonce = ?').get(nonce);
          return used === undefined ? undefined : { nonce: used.nonce, identity: used.identity, expiresAt: used.expires_at, fresh: false };
        })
        .immediate();
    });
  }

  insertSignature(r: SignatureRecord): Promise<boolean> {
    return attempt('insert signature', () => {
      this.#live();
      const res = this.#prepare('INSERT OR IGNORE INTO signatures(entry_id, log_index, signer, caller_id, artifact, artifact_type, created_at, envelope) VALUES (?, ?, ?, ?, ?, ?, ?, ?)').run(
        r.entryId, r.logIndex, r.signer, r.callerId, r.artifact, r.artifactType, r.createdAt, r.envelope,
      );
      return res.changes === 1;
    });
  }

  getSignature(entryId: string): Promise<SignatureRecord | undefined> {
    return attempt('get signature', () => {
      this.#live();
      const r = this.#prepare<[string], SignatureRow>('SELECT * FROM signatures WHERE entry_id = ?').get(entryId);
      return r === undefined ? undefined : signatureOf(r);
    });
  }

  listSignatures(o: { signer?: string | undefined; limit: number; offset: number }): Promise<{ total: number; records: SignatureRecord[] }> {
    return attempt('list signatures', () => {
      this.#live();
      const where = o.signer === undefined ? '' : 'WHERE signer = ?';
      const args = o.signer === undefined ? [] : [o.signer];
      const total = this.#prepare<unknown[], number>(`SELECT count(*) FROM signatures ${where}`).pluck().get(...args) ?? 0;
      const rows = this.#prepare<unknown[], SignatureRow>(`SELECT * FROM signatures ${where} ORDER BY log_index LIMIT ? OFFSET ?`).all(...args, o.limit, o.offset);
      return { total, records: rows.map(signatureOf) };
    });
  }

  insertCertificate(entryId: string, pem: string): Promise<void> {
    return attempt('insert certificate', () => {
      this.#live();
      this.#prepare('INSERT OR IGNORE INTO keyless_certificates(entry_id, certificate) VALUES (?, ?)').run(entryId, pem);
    });
  }

  getCertificate(entryId: string): Promise<string | undefined> {
    return attempt('get certificate', () => {
      this.#live();
      return this.#prepare<[string], string>('SELECT certificate FROM keyless_certificates WHERE entry_id = ?').pluck().get(entryId);
    });
  }

  revokeOidcIdentity(identity: string, now: number): Promise<boolean> {
    return attempt('revoke oidc identity', () => {
      this.#live();
      return this.#prepare('INSERT OR IGNORE INTO oidc_revocations(identity, revoked_at) VALUES (?, ?)').run(identity, now).changes === 1;
    });
  }

  isOidcIdentityRevoked(identity: string): Promise<boolean> {
    return attempt('check oidc identity', () => {
      this.#live();
      return this.#prepare<[string], number>('SELECT 1 FROM oidc_revocations WHERE identity = ?').pluck().get(identity) !== undefined;
    });
  }

  ping(): Promise<void> {
    return attempt('ping', () => {
      this.#live();
      this.#prepare('SELECT count(*) FROM identities').get();
    });
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#db.close();
    }
    return Promise.resolve();
  }
}

/** openSqliteAuthStore opens (creating if needed) the auth database at path. */
export function openSqliteAuthStore(path: string): Promise<SqliteAuthStore> {
  return SqliteAuthStore.open(path);
}
