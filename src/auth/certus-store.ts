/**
 * auth/certus-store — the durable records of the Certus gatekeeper and provenance routes (issue 11,
 * ../shared/reference/seed-systems.md §2): upload permissions (signed, expiring, single use), the provenance events of
 * each scan, and the counters of GET /v1/stats. They live beside the auth store's tables — SQLite `DATA/auth.db`
 * (auth/certus-store-sqlite) or the PostgreSQL schema `<log schema>_auth` (auth/certus-store-postgres) — so several
 * daemons behind a load balancer share them: a permission used on one is refused on every other.
 *
 * Duties of every backend:
 * 1. Atomic single use. `usePermission` is one conditional UPDATE (`… WHERE id = ? AND digest = ? AND used_at IS NULL
 *    AND expires_at > now`): of two concurrent calls with the same permission, from one process or two daemons,
 *    exactly one answers `used`; every later call answers `replayed`.
 * 2. Linearizable reads, as auth/store duty 1: once a write resolved, every later read from any process sees it.
 * 3. Nothing here is secret: a permission is a signed statement, not a bearer secret (execute-upload also needs a
 *    token with the `upload` scope); the store keeps its id and the SHA-256 of its payload.
 * 4. Errors. Infrastructure failures reject with IoError ERR_AUTH_STORE (cause attached, no connection string).
 */
import { join } from 'node:path';
import type { JsonObject } from '../encoding/json.ts';
import { SqliteCertusStore } from './certus-store-sqlite.ts';
import { authSchemaFor, AUTH_DB_FILE } from './open.ts';

/** PermissionRecord is one issued upload permission. Times are milliseconds since the Unix epoch. */
export interface PermissionRecord {
  /** id is the permission's UUID (Certus `upload_permission_id`). */
  id: string;
  scanId: string;
  tier: string;
  /** digest is the lowercase hex SHA-256 of the signed permission payload (binds the row to one statement). */
  digest: string;
  /** callerId is the token id that asked (never the token). */
  callerId: string;
  issuedAt: number;
  expiresAt: number;
  usedAt: number | null;
}

/** PermissionUse is the answer of usePermission: `used` only for the one call that used it. */
export type PermissionUse = 'used' | 'replayed' | 'expired' | 'unknown';

/** ScanEvent is one provenance event of a scan (GET /v1/provenance/{scan_id}). */
export interface ScanEvent {
  scanId: string;
  /** kind: `signed` (sign-artifact), `chain-verified`, `permitted`, `denied`, `uploaded`. */
  kind: string;
  at: number;
  /** actor is who did it: an identity, a token name, or the daemon's key id. */
  actor: string;
  /** result: `pass` or `fail`. */
  result: 'pass' | 'fail';
  details: JsonObject;
}

/** SignerCount is one signer of GET /v1/stats with the number of entries logged for it. */
export interface SignerCount {
  signer: string;
  count: number;
}

/** CertusStore holds the gatekeeper's and provenance routes' records; see the module comment for its duties. */
export interface CertusStore {
  readonly where: string;
  insertPermission(p: PermissionRecord): Promise<void>;
  /** usePermission marks the permission used in one atomic step (duty 1) and says whether this call used it. */
  usePermission(id: string, digest: string, now: number): Promise<PermissionUse>;
  getPermission(id: string): Promise<PermissionRecord | undefined>;
  /** addEvent appends a provenance event; listEvents returns a scan's events oldest first (at most `limit`). */
  addEvent(e: ScanEvent): Promise<void>;
  listEvents(scanId: string, limit: number): Promise<ScanEvent[]>;
  /** bump adds n to a named counter of GET /v1/stats; counters returns them all. */
  bump(name: string, n?: number): Promise<void>;
  counters(): Promise<Record<string, number>>;
  /** signerCounts counts the auth store's signature records per signer (its `signatures` table, same database). */
  signerCounts(limit: number): Promise<{ total: number; signers: SignerCount[] }>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** openCertusStore opens (creating its tables on first use) the Certus records beside the auth store. */
export async function openCertusStore(o: { dataDir: string; postgres?: { url: string; schema?: string | undefined } | undefined }): Promise<CertusStore> {
  // pg loads only when PostgreSQL is configured (issue 9: the daemon's memory).
  if (o.postgres !== undefined) return (await import('./certus-store-postgres.ts')).PostgresCertusStore.open(o.postgres.url, authSchemaFor(o.postgres.schema));
  return SqliteCertusStore.open(join(o.dataDir, AUTH_DB_FILE));
}
