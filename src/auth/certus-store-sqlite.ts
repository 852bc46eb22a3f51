/**
 * auth/certus-store-sqlite — the embedded {@link CertusStore}: tables `certus_*` in the auth store's SQLite file
 * `DATA/auth.db`, on a connection of its own (WAL: the auth store's connection and the CLI commands see the same
 * committed state). Durability and locking as auth/store-sqlite: synchronous=FULL, `BEGIN IMMEDIATE` writes,
 * `busy_timeout`. Single use (duty 1) is one `UPDATE … RETURNING`: SQLite serializes writers, so one update wins.
 *
 * Schema (its own version in certus_meta, independent of the auth store's user_version):
 * ```
 * certus_permissions(id TEXT PRIMARY KEY, scan_id, tier, digest, caller_id, issued_at, expires_at, used_at)
 * certus_events(seq INTEGER PRIMARY KEY, scan_id, kind, at, actor, result, details JSON)
 * certus_counters(name TEXT PRIMARY KEY, value INTEGER)
 * ```
 */
import Database from 'better-sqlite3';
import { ConfigError, IoError, TrustError } from '../errors.ts';
import { parseJsonObject } from '../encoding/json.ts';
import type { CertusStore, PermissionRecord, PermissionUse, ScanEvent, SignerCount } from './certus-store.ts';

export const CERTUS_SQLITE_SCHEMA_VERSION = 1;

interface PermissionRow {
  id: string;
  scan_id: string;
  tier: string;
  digest: string;
  caller_id: string;
  issued_at: number;
  expires_at: number;
  used_at: number | null;
}
interface EventRow {
  scan_id: string;
  kind: string;
  at: number;
  actor: string;
  result: string;
  details: string;
}

function wrap(e: unknown, op: string): TrustError {
  if (e instanceof TrustError) return e;
  const code = (e as { code?: unknown } | null)?.code;
  return new IoError('ERR_AUTH_STORE', `certus store: ${op} failed: ${typeof code === 'string' ? code : e instanceof Error ? e.message : String(e)}`, { cause: e });
}

function attempt<T>(op: string, fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (e) {
    return Promise.reject(wrap(e, op));
  }
}

export function permissionOf(r: PermissionRow): PermissionRecord {
  return {
    id: r.id,
    scanId: r.scan_id,
    tier: r.tier,
    digest: r.digest,
    callerId: r.caller_id,
    issuedAt: Number(r.issued_at),
    expiresAt: Number(r.expires_at),
    usedAt: r.used_at === null ? null : Number(r.used_at),
  };
}

export function eventOf(r: EventRow): ScanEvent {
  return { scanId: r.scan_id, kind: r.kind, at: Number(r.at), actor: r.actor, result: r.result === 'pass' ? 'pass' : 'fail', details: parseJsonObject(r.details) };
}

/** classifyUse tells why a permission could not be used, from its row after the conditional update missed. */
export function classifyUse(row: { digest: string; expires_at: number; used_at: number | null } | undefined, digest: string, now: number): PermissionUse {
  if (row === undefined || row.digest !== digest) return 'unknown';
  if (row.used_at !== null) return 'replayed';
  return Number(row.expires_at) <= now ? 'expired' : 'unknown';
}

/** SqliteCertusStore implements CertusStore in the auth store's SQLite file. */
export class SqliteCertusStore implements CertusStore {
  readonly where: string;
  readonly #db: Database.Database;
  #closed = false;

  private constructor(path: string, db: Database.Database) {
    this.where = path;
    this.#db = db;
  }

  static open(path: string, busyTimeoutMs = 5_000): Promise<SqliteCertusStore> {
    let db: Database.Database;
    try {
      db = new Database(path);
    } catch (e) {
      return Promise.reject(wrap(e, `open ${path}`));
    }
    try {
      db.pragma(`busy_timeout = ${Math.max(0, Math.floor(busyTimeoutMs))}`);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.transaction(() => {
        db.exec(`
          CREATE TABLE IF NOT EXISTS certus_meta (id INTEGER PRIMARY KEY CHECK (id = 0), schema_version INTEGER NOT NULL);
          INSERT OR IGNORE INTO certus_meta(id, schema_version) VALUES (0, ${CERTUS_SQLITE_SCHEMA_VERSION});
          CREATE TABLE IF NOT EXISTS certus_permissions (
            id TEXT PRIMARY KEY, scan_id TEXT NOT NULL, tier TEXT NOT NULL, digest TEXT NOT NULL, caller_id TEXT NOT NULL,
            issued_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, used_at INTEGER
          );
          CREATE TABLE IF NOT EXISTS certus_events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT, scan_id TEXT NOT NULL, kind TEXT NOT NULL, at INTEGER NOT NULL,
            actor TEXT NOT NULL, result TEXT NOT NULL, details TEXT NOT NULL
          );
          CREATE INDEX IF NOT EXISTS certus_events_scan ON certus_events(scan_id, seq);
          CREATE TABLE IF NOT EXISTS certus_counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
        `);
        const v = db.prepare<[], number>('SELECT schema_version FROM certus_meta WHERE id = 0').pluck().get();
        if (v !== CERTUS_SQLITE_SCHEMA_VERSION) throw new ConfigError('ERR_CONFIG_INVALID', `${path}: expected certus schema ${CERTUS_SQLITE_SCHEMA_VERSION}, got ${String(v)}`);
      }).immediate();
    } catch (e) {
      db.close();
      return Promise.reject(wrap(e, `open ${path}`));
    }
    return Promise.resolve(new SqliteCertusStore(path, db));
  }

  #live(): void {
    if (this.#closed) throw new IoError('ERR_AUTH_STORE', 'certus store: closed');
  }

  insertPermission(p: PermissionRecord): Promise<void> {
    return attempt('insert permission', () => {
      this.#live();
      this.#db
        .prepare('INSERT INTO certus_permissions(id, scan_id, tier, digest, caller_id, issued_at, expires_at, used_at) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)')
        .run(p.id, p.scanId, p.tier, p.digest, p.callerId, p.issuedAt, p.expiresAt);
    });
  }

  usePermission(id: string, digest: string, now: number): Promise<PermissionUse> {
    return attempt('use permission', () => {
      this.#live();
      return this.#db
        .transaction((): PermissionUse => {
          // Duty 1: the conditional update is the single-use decision.
          const hit = this.#db
            .prepare('UPDATE certus_permissions SET used_at = ? WHERE id = ? AND digest = ? AND used_at IS NULL AND expires_at > ? RETURNING id')
            .get(now, id, digest, now);
          if (hit !== undefined) return 'used';
          const row = this.#db.prepare<[string], PermissionRow>('SELECT * FROM certus_permissions WHERE id = ?').get(id);
          return classifyUse(row, digest, now);
        })
        .immediate();
    });
  }

  getPermission(id: string): Promise<PermissionRecord | undefined> {
    return attempt('get permission', () => {
      this.#live();
      const r = this.#db.prepare<[string], PermissionRow>('SELECT * FROM certus_permissions WHERE id = ?').get(id);
      return r === undefined ? undefined : permissionOf(r);
    });
  }

  addEvent(e: ScanEvent): Promise<void> {
    return attempt('add event', () => {
      this.#live();
      this.#db
        .prepare('INSERT INTO certus_events(scan_id, kind, at, actor, result, details) VALUES (?, ?, ?, ?, ?, ?)')
        .run(e.scanId, e.kind, e.at, e.actor, e.result, JSON.stringify(e.details));
    });
  }

  listEvents(scanId: string, limit: number): Promise<ScanEvent[]> {
    return attempt('list events', () => {
      this.#live();
      return this.#db.prepare<[string, number], EventRow>('SELECT * FROM certus_events WHERE scan_id = ? ORDER BY seq LIMIT ?').all(scanId, limit).map(eventOf);
    });
  }

  bump(name: string, n = 1): Promise<void> {
    return attempt('bump counter', () => {
      this.#live();
      this.#db.prepare('INSERT INTO certus_counters(name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = value + excluded.value').run(name, n);
    });
  }

  counters(): Promise<Record<string, number>> {
    return attempt('read counters', () => {
      this.#live();
      const out: Record<string, number> = {};
      for (const r of this.#db.prepare<[], { name: string; value: number }>('SELECT name, value FROM certus_counters ORDER BY name').all()) out[r.name] = Number(r.value);
      return out;
    });
  }

  signerCounts(limit: number): Promise<{ total: number; signers: SignerCount[] }> {
    return attempt('count signers', () => {
      this.#live();
      // The auth store creates `signatures` when it opens; a store opened alone has none yet.
      const has = this.#db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'signatures'").get() !== undefined;
      if (!has) return { total: 0, signers: [] };
      const total = this.#db.prepare<[], number>('SELECT count(*) FROM signatures').pluck().get() ?? 0;
      const rows = this.#db
        .prepare<[number], { signer: string; n: number }>('SELECT signer, count(*) AS n FROM signatures GROUP BY signer ORDER BY n DESC, signer LIMIT ?')
        .all(limit);
      return { total: Number(total), signers: rows.map((r) => ({ signer: r.signer, count: Number(r.n) })) };
    });
  }

  ping(): Promise<void> {
    return attempt('ping', () => {
      this.#live();
      this.#db.prepare('SELECT count(*) FROM certus_meta').get();
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
