/**
 * secrets/open — opening a SecretStore and its passphrase-sealed keyring the way every caller does (the CLI's
 * `custody secrets`, the daemon's `--secrets`): the passphrase from `--passphrase-file` or CUSTODY_PASSPHRASE
 * (keys/key-file readPassphrase), never from argv; the keyring by default at `STORE/keyring`.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, toIoError } from '../errors.ts';
import { readPassphrase, type PassphraseSource } from '../keys/key-file.ts';
import type { Pkcs11Options } from '../hsm/pkcs11.ts';
import { PassphraseKeyring } from './keyring.ts';
import { SecretStore } from './store.ts';

/** DEFAULT_KEYRING_NAME is the keyring's file name inside the store when no keyring path is given. */
export const DEFAULT_KEYRING_NAME = 'keyring';

/** OpenSecretStoreOptions configures {@link openSecretStore}. */
export interface OpenSecretStoreOptions {
  dir: string;
  /** keyringPath defaults to `dir/keyring`. */
  keyringPath?: string | undefined;
  passphrase: PassphraseSource;
  /** create makes the keyring when it does not exist (put, and the daemon); otherwise a missing keyring is ERR_IO_NOT_FOUND. */
  create?: boolean;
  /** log2N is scrypt's cost for a new keyring (default 16). */
  log2N?: number;
  now?: () => Date;
  /** pkcs11 opens token KEKs (cwd for relative PIN files, env for CUSTODY_PKCS11_*); default this process. */
  pkcs11?: Pkcs11Options | undefined;
}

/** openSecretStore opens the store and its keyring; `created` tells whether this call made the keyring. */
export async function openSecretStore(o: OpenSecretStoreOptions): Promise<{ store: SecretStore; created: boolean }> {
  const pass = await readPassphrase(o.passphrase);
  if (pass === undefined) {
    throw new ConfigError('ERR_CONFIG_PASSPHRASE_REQUIRED', 'the secret store keyring needs a passphrase and none was given');
  }
  const keyringPath = o.keyringPath ?? join(o.dir, DEFAULT_KEYRING_NAME);
  try {
    if (o.create === true) {
      await fsp.mkdir(o.dir, { recursive: true, mode: 0o700 }).catch((e: unknown) => {
        throw toIoError(e, o.dir, 'write');
      });
    }
    let keyring: PassphraseKeyring;
    let created = false;
    if (o.create === true) {
      const r = await PassphraseKeyring.openOrCreate(keyringPath, pass, {
        ...(o.log2N === undefined ? {} : { log2N: o.log2N }),
        ...(o.now === undefined ? {} : { now: o.now() }),
        pkcs11: o.pkcs11,
      });
      keyring = r.keyring;
      created = r.created;
    } else {
      keyring = await PassphraseKeyring.open(keyringPath, pass, { pkcs11: o.pkcs11 });
    }
    const store = await SecretStore.open({ dir: o.dir, keyring, ...(o.now === undefined ? {} : { now: o.now }) });
    return { store, created };
  } finally {
    pass.fill(0);
  }
}
