/**
 * vuln/db — the offline vulnerability database: OSV records (vuln/osv) imported from a directory of `.json` files or
 * a ZIP as osv.dev exports them (`gs://osv-vulnerabilities/<ecosystem>/all.zip`), kept in one SQLite file
 * (better-sqlite3) indexed by (ecosystem, package name).
 *
 * Schema (user_version 1):
 * ```
 * vulns(id TEXT PRIMARY KEY, modified TEXT, withdrawn INTEGER, record TEXT)      -- record: id, aliases, severity
 * affected(vuln_id TEXT, ecosystem_base TEXT, name TEXT, data TEXT)             -- data: one normalized affected[]
 * INDEX affected_pkg(ecosystem_base, name); INDEX affected_vuln(vuln_id)
 * ```
 * A later version may add tables; it changes user_version, and this version refuses such a file
 * (ERR_VULN_DB_INVALID) rather than misread it.
 *
 * Import duties: atomic. Into an existing database, every record of one import is written in ONE transaction
 * (BEGIN IMMEDIATE … COMMIT); any refusal (a malformed or oversized record, a hostile ZIP) rolls it back, so the
 * previous contents stay exactly as they were. A database that does not exist yet is built in a temporary file
 * beside the target and renamed over it only after the commit and an fsync: a failed first import leaves no file.
 * A record replaces a stored one with the same id unless the stored one has a later `modified` (RFC 3339 UTC
 * timestamps compare as strings).
 *
 * Trust boundary: the records are untrusted (see vuln/osv and archive/zip for the caps); the database file is the
 * operator's own cache, opened read-only by the scanner.
 */
import Database from 'better-sqlite3';
import { promises as fsp, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join, relative, sep } from 'node:path';
import { openZip, type ZipLimits } from '../archive/zip.ts';
import { ConfigError, FormatError, IoError, LimitError, isTrustError, toIoError } from '../errors.ts';
import { readFileBounded, syncDir, tempPath } from '../io/files.ts';
import { ecosystemBase, normalizeName } from './ecosystem.ts';
import { OSV_RECORD_MAX_BYTES, parseOsvRecord, type OsvAffected, type OsvRecord } from './osv.ts';

/** VULNDB_SCHEMA_VERSION is the SQLite user_version of this layout. */
export const VULNDB_SCHEMA_VERSION = 1;
/** VULNDB_ENV names the environment variable that overrides the default database path. */
export const VULNDB_ENV = 'CUSTODY_VULNDB';
/** OSV_ZIP_MAX_BYTES caps an imported ZIP file (1 GiB; osv.dev's largest per-ecosystem export is far smaller). */
export const OSV_ZIP_MAX_BYTES = 1024 * 1024 * 1024;
/** OSV_IMPORT_MAX_RECORDS caps the records of one import (1,000,000). */
export const OSV_IMPORT_MAX_RECORDS = 1_000_000;
/** WARNING_SAMPLES caps the warnings kept verbatim in an import summary. */
const WARNING_SAMPLES = 20;

/**
 * defaultVulnDbPath: `$CUSTODY_VULNDB`, else `$XDG_CACHE_HOME/custody/vulndb.sqlite`, else
 * `~/.cache/custody/vulndb.sqlite` (XDG Base Directory: a cache the operator can rebuild from the exports).
 */
export function defaultVulnDbPath(env: Readonly<Record<string, string | undefined>>, home: string = homedir()): string {
  const explicit = env[VULNDB_ENV];
  if (explicit) return explicit;
  const cache = env.XDG_CACHE_HOME;
  return join(cache && cache.startsWith('/') ? cache : join(home, '.cache'), 'custody', 'vulndb.sqlite');
}

/** ImportSummary says what one import did. */
export interface ImportSummary {
  /** files: record files read (.json files of the directory or ZIP). */
  files: number;
  /** imported: records written (new, or newer than the stored one). */
  imported: number;
  /** unchanged: records skipped because the stored one is as new or newer. */
  unchanged: number;
  /** withdrawn: imported records that carry `withdrawn` (kept, never matched). */
  withdrawn: number;
  /** packages: affected[] entries indexed. */
  packages: number;
  /** gitRanges: GIT ranges seen (not evaluated; versions[] is). */
  gitRanges: number;
  /** unknownRangeTypes counts dropped ranges by type. */
  unknownRangeTypes: Record<string, number>;
  /** warnings: the first few warnings, verbatim ("FILE: range type X ignored"). */
  warnings: string[];
}

export interface ImportOptions {
  /** zipLimits overrides archive/zip caps for a ZIP source. */
  zipLimits?: Partial<ZipLimits>;
  /** onWarning receives each warning as it happens. */
  onWarning?: (message: string) => void;
}

interface RecordSource {
  file: string;
  read: () => Promise<Uint8Array>;
  size: number;
}

function recordLimit(file: string, size: number): LimitError {
  return new LimitError('ERR_VULN_RECORD_LIMIT', `osv record ${file} is ${size} bytes, over the cap of ${OSV_RECORD_MAX_BYTES}`, {
    details: { file, size, cap: OSV_RECORD_MAX_BYTES },
  });
}

async function directorySources(root: string): Promise<RecordSource[]> {
  let names: string[];
  try {
    names = (await fsp.readdir(root, { recursive: true })).map(String);
  } catch (e) {
    throw toIoError(e, root, 'read');
  }
  const out: RecordSource[] = [];
  for (const n of names.filter((x) => x.endsWith('.json')).sort()) {
    const path = join(root, n);
    const st = await fsp.lstat(path).catch((e: unknown) => {
      throw toIoError(e, path, 'read');
    });
    // Symlinks and other non-regular files are skipped: an export is plain files, and a link could leave the tree.
    if (!st.isFile()) continue;
    if (out.length >= OSV_IMPORT_MAX_RECORDS) {
      throw new LimitError('ERR_LIMIT_COUNT', `${root} holds more than ${OSV_IMPORT_MAX_RECORDS} records`, { details: { cap: OSV_IMPORT_MAX_RECORDS } });
    }
    const file = relative(root, path).split(sep).join('/');
    out.push({
      file,
      size: st.size,
      read: async () => {
        try {
          return await readFileBounded(path, { maxBytes: OSV_RECORD_MAX_BYTES, what: `osv record ${file}` });
        } catch (e) {
          if (isTrustError(e) && e.kind === 'limit') throw recordLimit(file, st.size);
          throw e;
        }
      },
    });
  }
  return out;
}

async function zipSources(path: string, limits: Partial<ZipLimits> | undefined): Promise<RecordSource[]> {
  const bytes = await readFileBounded(path, { maxBytes: OSV_ZIP_MAX_BYTES, allowSymlink: true, what: 'osv zip' });
  const zip = openZip(bytes, { maxEntries: OSV_IMPORT_MAX_RECORDS, ...limits });
  return zip.entries
    .filter((e) => !e.isDirectory && e.name.endsWith('.json'))
    .map((e) => ({ file: e.name, size: e.size, read: () => Promise.resolve(zip.read(e)) }));
}

function createSchema(db: Database.Database): void {
  db.exec(`
    CREATE TABLE IF NOT EXISTS vulns (id TEXT PRIMARY KEY, modified TEXT NOT NULL, withdrawn INTEGER NOT NULL, record TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS affected (vuln_id TEXT NOT NULL, ecosystem_base TEXT NOT NULL, name TEXT NOT NULL, data TEXT NOT NULL);
    CREATE INDEX IF NOT EXISTS affected_pkg ON affected(ecosystem_base, name);
    CREATE INDEX IF NOT EXISTS affected_vuln ON affected(vuln_id);
  `);
  db.pragma(`user_version = ${VULNDB_SCHEMA_VERSION}`);
}

function sqliteError(e: unknown, path: string): unknown {
  if (isTrustError(e)) return e;
  const code = (e as { code?: unknown } | null)?.code;
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
    return new ConfigError('ERR_VULN_DB_INVALID', `${path} is not an sqlite database`, { cause: e });
  }
  if (typeof code === 'string' && code.startsWith('SQLITE_')) {
    return new IoError('ERR_IO_WRITE_FAILED', `vulnerability database ${path}: ${code}`, { cause: e });
  }
  return toIoError(e, path, 'write');
}

function checkVersion(db: Database.Database, path: string, allowEmpty: boolean): void {
  const v = db.pragma('user_version', { simple: true }) as number;
  if (v === VULNDB_SCHEMA_VERSION) return;
  if (allowEmpty && v === 0) {
    const tables = db.prepare("SELECT count(*) FROM sqlite_master WHERE type = 'table'").pluck().get() as number;
    if (tables === 0) return;
  }
  throw new ConfigError('ERR_VULN_DB_INVALID', `${path}: expected a custody vulnerability database (schema ${VULNDB_SCHEMA_VERSION}), got user_version ${v}`);
}

/**
 * importOsv reads every `.json` record of `source` (a directory, searched recursively, or a ZIP file) into the
 * database at `dbPath`, atomically (module doc). Returns what it did; throws the first refusal, having written
 * nothing.
 *
 * @example
 * const s = await importOsv('npm-all.zip', defaultVulnDbPath(process.env));
 * console.log(`${s.imported} records`);
 */
export async function importOsv(source: string, dbPath: string, options: ImportOptions = {}): Promise<ImportSummary> {
  const st = await fsp.stat(source).catch((e: unknown) => {
    throw toIoError(e, source, 'read');
  });
  const sources = st.isDirectory() ? await directorySources(source) : await zipSources(source, options.zipLimits);
  if (sources.length === 0) throw new FormatError('ERR_VULN_IMPORT_EMPTY', `${source} holds no .json osv records`);

  const exists = await fsp.stat(dbPath).then(
    () => true,
    (e: unknown) => {
      if ((e as { code?: unknown }).code === 'ENOENT') return false;
      throw toIoError(e, dbPath, 'read');
    },
  );
  await fsp.mkdir(dirname(dbPath), { recursive: true, mode: 0o700 }).catch((e: unknown) => {
    throw toIoError(e, dirname(dbPath), 'write');
  });
  const target = exists ? dbPath : tempPath(dirname(dbPath), basename(dbPath));
  let db: Database.Database | undefined;
  let inTransaction = false;
  try {
    db = new Database(target);
    db.pragma('journal_mode = DELETE');
    db.pragma('synchronous = FULL');
    checkVersion(db, dbPath, true);
    db.exec('BEGIN IMMEDIATE');
    inTransaction = true;
    createSchema(db);
    const summary = await importInto(db, sources, options);
    db.exec('COMMIT');
    inTransaction = false;
    db.close();
    db = undefined;
    if (!exists) {
      await fsp.rename(target, dbPath);
      await syncDir(dirname(dbPath));
    }
    return summary;
  } catch (e) {
    if (db?.open) {
      if (inTransaction) {
        try {
          db.exec('ROLLBACK');
        } catch {
          // The transaction is already gone (SQLite rolled it back itself); nothing to undo.
        }
      }
      db.close();
    }
    if (!exists) {
      await fsp.unlink(target).catch(() => undefined);
      await fsp.unlink(`${target}-journal`).catch(() => undefined);
    }
    throw sqliteError(e, dbPath);
  }
}

async function importInto(db: Database.Database, sources: RecordSource[], options: ImportOptions): Promise<ImportSummary> {
  const getModified = db.prepare('SELECT modified FROM vulns WHERE id = ?').pluck();
  const upsert = db.prepare('INSERT OR REPLACE INTO vulns (id, modified, withdrawn, record) VALUES (?, ?, ?, ?)');
  const dropAffected = db.prepare('DELETE FROM affected WHERE vuln_id = ?');
  const addAffected = db.prepare('INSERT INTO affected (vuln_id, ecosystem_base, name, data) VALUES (?, ?, ?, ?)');
  const summary: ImportSummary = { files: 0, imported: 0, unchanged: 0, withdrawn: 0, packages: 0, gitRanges: 0, unknownRangeTypes: {}, warnings: [] };
  const warn = (m: string): void => {
    if (summary.warnings.length < WARNING_SAMPLES) summary.warnings.push(m);
    options.onWarning?.(m);
  };
  const seen = new Set<string>();
  for (const src of sources) {
    if (src.size > OSV_RECORD_MAX_BYTES) throw recordLimit(src.file, src.size);
    const parsed = parseOsvRecord(await src.read(), src.file);
    summary.files++;
    summary.gitRanges += parsed.gitRanges;
    for (const t of parsed.unknownRangeTypes) {
      summary.unknownRangeTypes[t] = (summary.unknownRangeTypes[t] ?? 0) + 1;
      warn(`${src.file}: range type ${JSON.stringify(t)} is unknown; that range was ignored`);
    }
    const r = parsed.record;
    if (seen.has(r.id)) warn(`${src.file}: id ${r.id} appears in more than one file; the later one with the newer modified time wins`);
    seen.add(r.id);
    const stored = getModified.get(r.id) as string | undefined;
    if (stored !== undefined && stored > r.modified) {
      summary.unchanged++;
      continue;
    }
    const meta: StoredVuln = { id: r.id, modified: r.modified, aliases: r.aliases, severity: r.severity };
    if (r.withdrawn !== undefined) meta.withdrawn = r.withdrawn;
    upsert.run(r.id, r.modified, r.withdrawn === undefined ? 0 : 1, JSON.stringify(meta));
    dropAffected.run(r.id);
    for (const a of r.affected) {
      const base = ecosystemBase(a.ecosystem);
      addAffected.run(r.id, base, normalizeName(base, a.name), JSON.stringify(a));
      summary.packages++;
    }
    summary.imported++;
    if (r.withdrawn !== undefined) summary.withdrawn++;
  }
  return summary;
}

/** StoredVuln is a record's metadata as stored (its affected[] entries are rows of their own). */
export type StoredVuln = Omit<OsvRecord, 'affected'>;

/** VulnMatchCandidate is one affected[] entry of one record, for a package looked up. */
export interface VulnMatchCandidate {
  vuln: StoredVuln;
  affected: OsvAffected;
}

/** VulnDb is an open, read-only vulnerability database. */
export class VulnDb {
  readonly path: string;
  readonly #db: Database.Database;
  readonly #lookup: Database.Statement;

  constructor(db: Database.Database, path: string) {
    this.#db = db;
    this.path = path;
    this.#lookup = db.prepare(
      'SELECT v.record AS record, a.data AS data FROM affected a JOIN vulns v ON v.id = a.vuln_id WHERE a.ecosystem_base = ? AND a.name = ? AND v.withdrawn = 0 ORDER BY v.id',
    );
  }

  /** lookup lists the affected[] entries for a package (base ecosystem, normalized name), withdrawn records left out. */
  lookup(ecosystem: string, name: string): VulnMatchCandidate[] {
    const rows = this.#lookup.all(ecosystem, name) as Array<{ record: string; data: string }>;
    return rows.map((r) => ({ vuln: JSON.parse(r.record) as StoredVuln, affected: JSON.parse(r.data) as OsvAffected }));
  }

  /** stats counts records (withdrawn included) and indexed packages. */
  stats(): { records: number; packages: number } {
    return {
      records: this.#db.prepare('SELECT count(*) FROM vulns').pluck().get() as number,
      packages: this.#db.prepare('SELECT count(*) FROM affected').pluck().get() as number,
    };
  }

  close(): void {
    this.#db.close();
  }
}

/**
 * openVulnDb opens a database read-only. A missing file is ERR_VULN_DB_MISSING, a file of another layout (or not
 * SQLite) ERR_VULN_DB_INVALID; both ConfigErrors (the operator imports first, or points --db elsewhere).
 */
export function openVulnDb(path: string): VulnDb {
  // better-sqlite3 refuses a path whose directory is missing with a plain TypeError, not SQLITE_CANTOPEN: whatever
  // the path lacks, the database is missing.
  const missing = (e: unknown): ConfigError => new ConfigError('ERR_VULN_DB_MISSING', `no vulnerability database at ${path}`, { cause: e });
  try {
    statSync(path);
  } catch (e) {
    const errno = (e as { code?: unknown } | null)?.code;
    if (errno === 'ENOENT' || errno === 'ENOTDIR') throw missing(e);
    throw toIoError(e, path, 'read');
  }
  let db: Database.Database;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
  } catch (e) {
    const code = (e as { code?: unknown } | null)?.code;
    if (code === 'SQLITE_CANTOPEN') throw missing(e);
    throw sqliteError(e, path);
  }
  try {
    checkVersion(db, path, false);
    return new VulnDb(db, path);
  } catch (e) {
    db.close();
    throw sqliteError(e, path);
  }
}
