/**
 * auth/open — where the signing API's auth state lives, chosen like the log's: `DATA/auth.db` (SQLite) by default,
 * or the schema `<log schema>_auth` of the log's PostgreSQL database when the log lives there.
 */
import { join } from 'node:path';
import { openSqliteAuthStore } from './store-sqlite.ts';
import type { AuthStore } from './store.ts';

/** AUTH_DB_FILE is the SQLite file of the auth state in the data directory. */
export const AUTH_DB_FILE = 'auth.db';

/** authSchemaFor names the PostgreSQL schema of the auth state beside a log schema (default custody_log). */
export function authSchemaFor(logSchema: string | undefined): string {
  return `${logSchema ?? 'custody_log'}_auth`;
}

/** openAuthStore opens (creating on first use) the auth store of a data directory or of a PostgreSQL log. */
export async function openAuthStore(o: { dataDir: string; postgres?: { url: string; schema?: string | undefined } | undefined }): Promise<AuthStore> {
  // pg loads only when PostgreSQL is configured (issue 9: the daemon's memory).
  if (o.postgres !== undefined) return (await import('./store-postgres.ts')).openPostgresAuthStore(o.postgres.url, authSchemaFor(o.postgres.schema));
  return openSqliteAuthStore(join(o.dataDir, AUTH_DB_FILE));
}
