/**
 * server/daemon-secrets — where the daemon's own secrets come from (issue 12): the admin bearer token, the passphrase
 * of its sealed signing key, and the transparency log's note key. Without `--secrets` they are files in the data
 * directory (server/provider/identity, server/log/key-file) and the passphrase comes from CUSTODY_PASSPHRASE or
 * --passphrase-file; with `custody serve --secrets STORE` they live in an envelope-encrypted SecretStore
 * (secrets/store, docs/keys.md "Secrets") whose keyring that passphrase opens. {@link resolveSecretSource} is the one
 * place that decides; the rest of the daemon asks it.
 *
 * | secret             | store name                 | without a store                    |
 * |--------------------|----------------------------|------------------------------------|
 * | admin token        | `daemon.admin-token`       | `--token-file`, else DATA/admin.token (an explicit --token-file wins over the store) |
 * | signer passphrase  | `daemon.signer-passphrase` | CUSTODY_PASSPHRASE / --passphrase-file (also used when the store has none) |
 * | log key            | `daemon.log-key`           | DATA/log/log.key                   |
 * | API token HMAC key | `daemon.token-hmac-key`    | none: the auth store keeps unkeyed SHA-256 digests (auth/token-key) |
 *
 * A missing admin token or log key is made in the store on first start, as the files are. A data directory that
 * already has DATA/log/log.key is refused until the key is imported (`custody secrets put … daemon.log-key
 * --from-file DATA/log/log.key`): a fresh key would fork the log's identity.
 * The signing API's tokens stay in the auth store (auth/store), which keeps only their digests; with a store, those
 * digests are HMAC-SHA-256 under `daemon.token-hmac-key` (auth/token-key), so the database alone verifies and mints
 * nothing.
 */
import { join } from 'node:path';
import { ConfigError } from '../errors.ts';
import { pathExists } from '../io/files.ts';
import type { SecretStore } from '../secrets/store.ts';

/** DAEMON_SECRET_NAMES are the names of the daemon's secrets in a store. */
export const DAEMON_SECRET_NAMES = {
  adminToken: 'daemon.admin-token',
  signerPassphrase: 'daemon.signer-passphrase',
  logKey: 'daemon.log-key',
  tokenKey: 'daemon.token-hmac-key',
} as const;

export type DaemonSecret = keyof typeof DAEMON_SECRET_NAMES;

/** SecretSource says where one secret comes from. */
export type SecretSource =
  | { kind: 'file'; path: string }
  | { kind: 'store'; store: SecretStore; name: string }
  /** passphrase: CUSTODY_PASSPHRASE or --passphrase-file (the PassphraseSource the daemon was given). */
  | { kind: 'passphrase' };

/** SecretSourceOptions are what decides: the data directory, an explicit token file, the store. */
export interface SecretSourceOptions {
  dataDir: string;
  tokenFile?: string | undefined;
  secrets?: SecretStore | undefined;
}

/** resolveSecretSource tells where secret X comes from (module doc table). */
export async function resolveSecretSource(secret: DaemonSecret, o: SecretSourceOptions): Promise<SecretSource> {
  const store = o.secrets;
  switch (secret) {
    case 'adminToken':
      if (o.tokenFile !== undefined) return { kind: 'file', path: o.tokenFile };
      return store !== undefined ? { kind: 'store', store, name: DAEMON_SECRET_NAMES.adminToken } : { kind: 'file', path: join(o.dataDir, 'admin.token') };
    case 'signerPassphrase':
      return store !== undefined && (await store.has(DAEMON_SECRET_NAMES.signerPassphrase))
        ? { kind: 'store', store, name: DAEMON_SECRET_NAMES.signerPassphrase }
        : { kind: 'passphrase' };
    case 'logKey':
      return store !== undefined ? { kind: 'store', store, name: DAEMON_SECRET_NAMES.logKey } : { kind: 'file', path: join(o.dataDir, 'log', 'log.key') };
    case 'tokenKey':
      // No file form: without a store the auth store's digests are unkeyed.
      return store !== undefined ? { kind: 'store', store, name: DAEMON_SECRET_NAMES.tokenKey } : { kind: 'passphrase' };
  }
}

/** describeSource names a source for banners and messages: a path, or `secrets:<name>`. */
export function describeSource(s: SecretSource): string {
  return s.kind === 'file' ? s.path : s.kind === 'store' ? `secrets:${s.name}` : 'CUSTODY_PASSPHRASE or --passphrase-file';
}

/**
 * loadOrCreateStoredText returns the text of a stored secret, making it with `create()` when absent. `legacyFile`,
 * when it exists and the store has no such secret, refuses the start (the file must be imported first).
 */
export async function loadOrCreateStoredText(
  store: SecretStore,
  name: string,
  create: () => string,
  legacyFile?: string,
): Promise<{ text: string; created: boolean }> {
  if (await store.has(name)) {
    const raw = await store.get(name);
    const text = Buffer.from(raw).toString('utf8');
    raw.fill(0);
    return { text, created: false };
  }
  if (legacyFile !== undefined && (await pathExists(legacyFile))) {
    throw new ConfigError('ERR_CONFIG_INVALID', `the secret store has no ${name}, but ${legacyFile} exists`, {
      hint: `import it first: custody secrets put --store STORE ${name} --from-file ${legacyFile} (then remove the file)`,
    });
  }
  const text = create();
  await store.put(name, new TextEncoder().encode(text));
  return { text, created: true };
}
