/**
 * secrets/store — SecretStore: named secrets under envelope encryption (secrets/format), their data keys wrapped by
 * the KEKs of a keyring (secrets/keyring), with KEK rotation (docs/keys.md "Secrets").
 *
 * Layout: `STORE/<name>.secret` (0600, secrets/format), `STORE/.lock` while a process changes the store; the
 * keyring is a separate file (by default `STORE/keyring`). Directories are made 0700.
 *
 * Rotation and its crash points. `rotateKek` = (1) the keyring is rewritten atomically with a new active KEK, the old
 * one `retiring` and still able to unwrap; then `rewrap`: (2) for each secret whose KEK is not the active one: read,
 * unwrap the data key with its KEK, wrap it with the active KEK, zero the data key, write the new file beside the
 * old one (fsynced), rename it over the old one, fsync the directory — the payload fields are copied unchanged (its
 * associated data does not name the KEK), so no payload is decrypted or re-encrypted; (3) only once every secret
 * file names the active KEK, the keyring is rewritten without the retiring KEKs nothing refers to.
 * The keyring is the journal: while a KEK is retiring a rewrap is pending, and `rewrap` resumes it (every step is
 * idempotent). A crash anywhere leaves each file wholly old (readable with the retiring KEK, still in the keyring) or
 * wholly new (readable with the active one), and a KEK leaves the keyring only after a scan found no file naming it:
 * every secret stays readable. test/secrets/crash.test.ts kills a rewrapping child with SIGKILL at each step.
 * With a token KEK (secrets/token-kek) two steps join the table: `kek-generated` (rotating to a token: the AES key
 * exists in the token, the keyring does not name it yet — a crash leaves an unreferenced object, every secret under
 * the old KEK) and `kek-destroyed` (retiring a token KEK: its object is destroyed after the keyring dropped it);
 * test/secrets/token-kek-crash.test.ts kills a child at each step of a rotation file → token and token → file.
 *
 * Concurrency: changes (put, rotate, rewrap) hold `STORE/.lock` (O_EXCL, holding the pid); a lock whose process is
 * gone (a crash) is taken over. Reads take no lock: every file is replaced by rename, so a reader sees a whole file.
 * One keyring per store.
 */
import { constants, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { encodeHex } from '../encoding/bytes.ts';
import { ConfigError, IoError, LimitError, UsageError, VerificationError, isTrustError, toIoError } from '../errors.ts';
import { generateDataKey, openWithKey, randomBytes, sealWithKey, zeroize } from '../crypto/index.ts';
import { readFileBounded, syncDir, tempPath } from '../io/files.ts';
import { acquirePidLock } from '../io/pid-lock.ts';
import {
  SECRET_FILE_MAX_BYTES,
  SECRET_VALUE_MAX_BYTES,
  checkSecretName,
  formatSecretFile,
  parseSecretFile,
  payloadAad,
  wrapAad,
  type SecretRecord,
} from './format.ts';
import type { KeyEncryptionKey } from './kek.ts';
import type { KekTarget, Keyring } from './keyring.ts';

/** SECRET_FILE_RE names the secret files of a store directory. */
const SECRET_FILE_RE = /^([a-z0-9][a-z0-9._-]{0,127})\.secret$/;
const LOCK_NAME = '.lock';
/** TEMP_RE names the temporary files of interrupted secret writes (io/files tempPath: `.<label>.<pid>.<ms>.<n>.tmp`). */
const TEMP_RE = /^\.[a-z0-9][a-z0-9._-]{0,127}\.secret\.[0-9]+\.[0-9]+\.[0-9]+\.tmp$/;

/** SecretInfo describes a stored secret without decrypting it. */
export interface SecretInfo {
  name: string;
  version: number;
  kekId: string;
  dataKeyId: string;
}

/** RewrapStep is a point of the rotation a test may observe (and crash at); see the module doc. */
export type RewrapStep =
  | { at: 'kek-generated' }
  | { at: 'keyring-rotated' }
  | { at: 'secret-begin' | 'secret-staged' | 'secret-renamed'; name: string; index: number }
  | { at: 'retire-begin' }
  | { at: 'keyring-retired' }
  | { at: 'kek-destroyed' };

/** RewrapOptions: `onStep` is told each step before the next begins (tests; default none). */
export interface RewrapOptions {
  onStep?: (step: RewrapStep) => void | Promise<void>;
  now?: Date;
}

/** RotateOptions: `to` picks the new KEK (default a software KEK in the keyring; or a new AES key in a token). */
export interface RotateOptions extends RewrapOptions {
  to?: KekTarget;
}

/** RewrapReport says what a rotation or rewrap did. */
export interface RewrapReport {
  /** active is the KEK every secret is wrapped with afterwards. */
  active: string;
  rewrapped: number;
  /** unchanged counts secrets that were already wrapped with the active KEK. */
  unchanged: number;
  /** retired lists the KEKs destroyed because nothing refers to them any more. */
  retired: string[];
  /** leftInToken lists retired token KEKs whose token object could not be destroyed (delete them by hand). */
  leftInToken: string[];
}

/** SecretStoreOptions configures {@link SecretStore.open}. */
export interface SecretStoreOptions {
  dir: string;
  keyring: Keyring;
  now?: () => Date;
}

function infoOf(r: SecretRecord): SecretInfo {
  return { name: r.name, version: r.version, kekId: r.kekId, dataKeyId: r.dataKeyId };
}

/** SecretStore is a directory of secrets and the keyring that opens them. */
export class SecretStore {
  readonly dir: string;
  readonly keyring: Keyring;
  readonly #now: () => Date;
  #mutex: Promise<unknown> = Promise.resolve();

  private constructor(o: SecretStoreOptions) {
    this.dir = o.dir;
    this.keyring = o.keyring;
    this.#now = o.now ?? (() => new Date());
  }

  /** open opens (creating, 0700) the store directory. */
  static async open(o: SecretStoreOptions): Promise<SecretStore> {
    try {
      await fsp.mkdir(o.dir, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw toIoError(e, o.dir, 'write');
    }
    return new SecretStore(o);
  }

  #path(name: string): string {
    return join(this.dir, `${checkSecretName(name)}.secret`);
  }

  #readRecord(name: string): Promise<SecretRecord | undefined> {
    return readSecretRecord(this.dir, name);
  }

  #kek(id: string): KeyEncryptionKey {
    const kek = this.keyring.find(id);
    if (kek === undefined) throw new ConfigError('ERR_SECRETS_UNKNOWN_KEK', `the keyring holds no KEK ${id}`);
    return kek;
  }

  /** has tells whether a secret of this name exists. */
  async has(name: string): Promise<boolean> {
    return (await this.#readRecord(name)) !== undefined;
  }

  /** info describes a secret without decrypting it (ERR_SECRETS_NOT_FOUND when absent). */
  async info(name: string): Promise<SecretInfo> {
    const r = await this.#readRecord(name);
    if (r === undefined) throw notFound(name);
    return infoOf(r);
  }

  /**
   * get decrypts a secret. Refusals: ERR_SECRETS_NOT_FOUND, ERR_SECRETS_FORMAT (malformed file), ERR_SECRETS_UNKNOWN_KEK,
   * ERR_SECRETS_DECRYPT (the wrapped key or the payload fails authentication: nothing is released).
   */
  async get(name: string): Promise<Uint8Array> {
    const r = await this.#readRecord(name);
    if (r === undefined) throw notFound(name);
    const dk = await this.#kek(r.kekId).unwrap(r.wrappedKey, wrapAad(r.name, r.version, r.dataKeyId, r.kekId));
    try {
      const plain = openWithKey(dk, { nonce: r.nonce, ciphertext: r.ciphertext }, payloadAad(r.name, r.version, r.dataKeyId));
      if (plain === undefined) throw new VerificationError('ERR_SECRETS_DECRYPT', `secret ${name}: the payload does not authenticate`);
      return plain;
    } finally {
      zeroize(dk);
    }
  }

  /** put stores value under name (a new data key and version each time) with the active KEK. */
  async put(name: string, value: Uint8Array): Promise<SecretInfo> {
    checkSecretName(name);
    if (value.length > SECRET_VALUE_MAX_BYTES) {
      throw new LimitError('ERR_LIMIT_SIZE', `the secret is ${value.length} bytes, over the cap of ${SECRET_VALUE_MAX_BYTES}`);
    }
    return this.#locked(async () => {
      const prev = await this.#readRecord(name).catch((e: unknown) => {
        // A damaged file is replaced, not a reason to refuse a new value; its version is unknown, so restart above it.
        if (isTrustError(e) && (e.code === 'ERR_SECRETS_FORMAT' || e.kind === 'format' || e.kind === 'limit')) return undefined;
        throw e;
      });
      const version = (prev?.version ?? 0) + 1;
      const dataKeyId = encodeHex(randomBytes(16));
      const kek = this.keyring.active();
      const dk = generateDataKey();
      try {
        const box = sealWithKey(dk, value, payloadAad(name, version, dataKeyId));
        const wrappedKey = await kek.wrap(dk, wrapAad(name, version, dataKeyId, kek.id));
        const rec: SecretRecord = { name, version, dataKeyId, kekId: kek.id, wrappedKey, nonce: box.nonce, ciphertext: box.ciphertext };
        await this.#write(rec);
        return infoOf(rec);
      } finally {
        zeroize(dk);
      }
    });
  }

  /** list describes every secret (sorted by name) without decrypting any. A malformed file is refused. */
  list(): Promise<SecretInfo[]> {
    return listSecrets(this.dir);
  }

  /** rotateKek makes a new active KEK and rewraps every data key with it (module doc). */
  async rotateKek(o: RotateOptions = {}): Promise<RewrapReport> {
    return this.#locked(async () => {
      await this.keyring.rotate(o.now ?? this.#now(), o.to, () => o.onStep?.({ at: 'kek-generated' }));
      await o.onStep?.({ at: 'keyring-rotated' });
      return this.#rewrapLocked(o);
    });
  }

  /** rewrap moves every data key not wrapped with the active KEK to it, then retires unreferenced KEKs (resumes a rotation). */
  async rewrap(o: RewrapOptions = {}): Promise<RewrapReport> {
    return this.#locked(() => this.#rewrapLocked(o));
  }

  async #rewrapLocked(o: RewrapOptions): Promise<RewrapReport> {
    const active = this.keyring.active();
    let rewrapped = 0;
    let unchanged = 0;
    const list = await this.list();
    for (const [index, s] of list.entries()) {
      await o.onStep?.({ at: 'secret-begin', name: s.name, index });
      const r = await this.#readRecord(s.name);
      if (r === undefined) continue;
      if (r.kekId === active.id) {
        unchanged++;
        continue;
      }
      const dk = await this.#kek(r.kekId).unwrap(r.wrappedKey, wrapAad(r.name, r.version, r.dataKeyId, r.kekId));
      let wrappedKey: Uint8Array;
      try {
        wrappedKey = await active.wrap(dk, wrapAad(r.name, r.version, r.dataKeyId, active.id));
      } finally {
        zeroize(dk);
      }
      await this.#write({ ...r, kekId: active.id, wrappedKey }, async (at) => o.onStep?.({ at, name: s.name, index }));
      rewrapped++;
    }
    // Retire only what no file names: scan again (a put during the loop is excluded by the lock, but a file restored
    // by hand from a backup is not).
    await o.onStep?.({ at: 'retire-begin' });
    const referenced = new Set((await this.list()).map((s) => s.kekId));
    const retire = this.keyring
      .entries()
      .filter((e) => e.state === 'retiring' && !referenced.has(e.id))
      .map((e) => e.id);
    let leftInToken: string[] = [];
    if (retire.length > 0) {
      const tokenKeks = this.keyring.entries().filter((e) => retire.includes(e.id) && e.kind === 'pkcs11').length;
      ({ leftInToken } = await this.keyring.retire(retire, o.now ?? this.#now(), () => o.onStep?.({ at: 'keyring-retired' })));
      if (tokenKeks > 0) await o.onStep?.({ at: 'kek-destroyed' });
    }
    return { active: active.id, rewrapped, unchanged, retired: retire, leftInToken };
  }

  /**
   * write replaces a secret file atomically: temp (O_EXCL, 0600) + fsync, `staged`, rename, directory fsync,
   * `renamed`. On failure the temporary file is removed and the old file is untouched.
   */
  async #write(r: SecretRecord, step?: (at: 'secret-staged' | 'secret-renamed') => Promise<void>): Promise<void> {
    const path = this.#path(r.name);
    const tmp = tempPath(this.dir, `${r.name}.secret`);
    let fh: fsp.FileHandle | undefined;
    let renamed = false;
    try {
      fh = await fsp.open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
      await fh.writeFile(formatSecretFile(r));
      await fh.sync();
      await fh.close();
      fh = undefined;
      await step?.('secret-staged');
      await fsp.rename(tmp, path);
      renamed = true;
      await syncDir(this.dir);
    } catch (e) {
      await fh?.close().catch(() => undefined);
      if (!renamed) await fsp.unlink(tmp).catch(() => undefined);
      throw toIoError(e, path, 'write');
    }
    await step?.('secret-renamed');
  }

  /** locked runs fn holding the in-process mutex and STORE/.lock; leftovers of interrupted writes are removed first. */
  async #locked<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#mutex.then(async () => {
      const release = await this.#acquire();
      try {
        await this.#removeTemporaries();
        return await fn();
      } finally {
        await release();
      }
    });
    this.#mutex = run.catch(() => undefined);
    return run;
  }

  #acquire(): Promise<() => Promise<void>> {
    return acquirePidLock(join(this.dir, LOCK_NAME), {
      refused: (r) =>
        new IoError('ERR_SECRETS_LOCKED', `the store ${this.dir} is locked by another process (${LOCK_NAME}${r.reason === 'held' ? `, pid ${r.pid}` : ''})`),
    });
  }

  async #removeTemporaries(): Promise<void> {
    const names = await fsp.readdir(this.dir).catch(() => [] as string[]);
    for (const n of names) {
      if (TEMP_RE.test(n)) await fsp.unlink(join(this.dir, n)).catch(() => undefined);
    }
  }
}

/** readSecretRecord reads and parses STORE/<name>.secret (unauthenticated); undefined when there is none. */
async function readSecretRecord(dir: string, name: string): Promise<SecretRecord | undefined> {
  let raw: Buffer;
  try {
    raw = await readFileBounded(join(dir, `${checkSecretName(name)}.secret`), { maxBytes: SECRET_FILE_MAX_BYTES, what: 'secret file' });
  } catch (e) {
    if (isTrustError(e) && e.code === 'ERR_IO_NOT_FOUND') return undefined;
    throw e;
  }
  return parseSecretFile(raw, name);
}

/** listSecrets describes every secret of a store directory from the file headers (no keyring needed, nothing decrypted). */
export async function listSecrets(dir: string): Promise<SecretInfo[]> {
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch (e) {
    throw toIoError(e, dir, 'read');
  }
  const out: SecretInfo[] = [];
  for (const f of names.sort()) {
    const m = SECRET_FILE_RE.exec(f);
    if (!m) continue;
    const r = await readSecretRecord(dir, m[1]!);
    if (r !== undefined) out.push(infoOf(r));
  }
  return out;
}

function notFound(name: string): UsageError {
  return new UsageError('ERR_SECRETS_NOT_FOUND', `no secret named ${name}`);
}
