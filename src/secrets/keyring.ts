/**
 * secrets/keyring — the passphrase-sealed keyring of key-encryption keys, `custody-keyring/v1` (docs/keys.md
 * "Secrets"): scrypt (RFC 7914) derives a key from the passphrase, AES-256-GCM (NIST SP 800-38D) seals the list of
 * KEKs. The file is private (0600) and every write is atomic (temp + fsync + rename), so a crash leaves the old
 * keyring or the new one.
 *
 * File (one JSON object, at most KEYRING_FILE_MAX_BYTES, members exactly these, one trailing "\n"):
 * ```
 * {"format":"custody-keyring/v1","kdf":"scrypt","log2n":16,"r":8,"p":1,"salt":"<base64 16>",
 *  "nonce":"<base64 12>","ciphertext":"<base64 of the sealed list || tag>"}
 * ```
 * Associated data: `"custody-keyring/v1\nscrypt\n" log2n "\n" r "\n" p "\n" salt "\n"`, so the cost parameters and
 * salt cannot be changed without detection; log2n, r and p are checked (as crypto/sealed-key does) before any work,
 * because the header is read before anything is authenticated.
 * The sealed list (JSON, at most KEYRING_MAX_KEKS KEKs and KEYRING_MAX_RETIRED retired ids):
 * ```
 * {"keks":[{"id":"kek-<16 hex>","key":"<base64 32>","created":"<RFC 3339>","state":"active"|"retiring"},
 *          {"id":"kek-<16 hex>","uri":"pkcs11:token=…;object=…;id=…","pin_source":"/abs/pin"|null,
 *           "module_path":"/abs/lib.so"|null,"created":"…","state":"…"}],
 *  "retired":[{"id":"kek-…","retired":"<RFC 3339>"}]}
 * ```
 * A KEK with `key` is a software KEK (secrets/kek AesGcmKek, its 32 bytes here); a KEK with `uri` is held in a
 * PKCS#11 token (secrets/token-kek: an AES-256 key the token never releases), and the keyring records only where it
 * is. Either kind may be active; rotation moves between them in both directions. Retiring a token KEK destroys its
 * object in the token after the keyring no longer names it (a crash between the two leaves an object nothing refers
 * to; `custody secrets list` does not show it, pkcs11-tool --list-objects does).
 * Exactly one KEK is `active` (new secrets and rewraps use it); `retiring` KEKs still open what they wrapped until a
 * rewrap moves it; `retired` ids keep no key material (a record of what was destroyed). A wrong passphrase and an
 * altered file are the same refusal (ERR_SECRETS_KEYRING_AUTH): GCM cannot tell them apart, and nothing is decrypted.
 * The KEKs' key bytes pass through a JavaScript string while the list is parsed; they are held as bytes afterwards.
 */
import { promises as fsp } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import {
  SEALED_KEY_DEFAULT_LOG2N,
  SEALED_KEY_MAX_LOG2N,
  SEALED_KEY_MIN_LOG2N,
  deriveScryptKey,
  openWithKey,
  randomBytes,
  sealWithKey,
  zeroize,
} from '../crypto/index.ts';
import { decodeBase64, encodeBase64, encodeHex } from '../encoding/bytes.ts';
import { isJsonObject, parseJsonObject, type JsonObject } from '../encoding/json.ts';
import { formatTimestamp, parseTimestamp } from '../encoding/time.ts';
import { ConfigError, FormatError, LimitError, isTrustError } from '../errors.ts';
import { readFileBounded, writeFileAtomic } from '../io/files.ts';
import { generatePkcs11AesKey } from '../hsm/aes-key.ts';
import type { Pkcs11Options } from '../hsm/pkcs11.ts';
import { parsePkcs11Uri } from '../hsm/uri.ts';
import { KEK_ID_RE } from './format.ts';
import { AesGcmKek, type KeyEncryptionKey } from './kek.ts';
import { TokenKek } from './token-kek.ts';

export const KEYRING_FORMAT = 'custody-keyring/v1';
/** KEYRING_FILE_MAX_BYTES caps the keyring file before parsing. */
export const KEYRING_FILE_MAX_BYTES = 256 * 1024;
/** KEYRING_MAX_KEKS caps the KEKs with key material (one active, the rest retiring). */
export const KEYRING_MAX_KEKS = 64;
/** KEYRING_MAX_RETIRED caps the retired ids kept; the oldest are dropped beyond it. */
export const KEYRING_MAX_RETIRED = 1024;
const SCRYPT_R = 8;
const SCRYPT_P = 1;
const HEADER_MEMBERS = ['format', 'kdf', 'log2n', 'r', 'p', 'salt', 'nonce', 'ciphertext'];

/** KekState: `active` wraps new data keys; `retiring` only opens what it wrapped before a rotation. */
export type KekState = 'active' | 'retiring';

/** KekKind: `file` (the key bytes are in the sealed keyring) or `pkcs11` (an AES key in a token). */
export type KekKind = 'file' | 'pkcs11';

/** KeyringEntry describes one KEK (no key material). */
export interface KeyringEntry {
  id: string;
  kind: KekKind;
  /** uri names a token KEK (path attributes only). */
  uri?: string;
  state: KekState;
  created: Date;
}

/** KekTarget says what the new KEK of a rotation is: a software KEK (the default) or a new AES key in a token. */
export type KekTarget = { kind: 'file' } | { kind: 'pkcs11'; uri: string };

/** RetireResult: `leftInToken` names retired token KEKs whose object could not be destroyed (delete by hand). */
export interface RetireResult {
  leftInToken: string[];
}

/**
 * Keyring is what a SecretStore needs from its KEKs: find one by id, the active one, and two durable changes.
 * Duties: `rotate` and `retire` are durable (fsynced) before they resolve and atomic; the caller serializes them
 * (the store's lock).
 */
export interface Keyring {
  /** active is the KEK new data keys are wrapped with. */
  active(): KeyEncryptionKey;
  /** find returns the KEK with this id (active or retiring), or undefined. */
  find(id: string): KeyEncryptionKey | undefined;
  entries(): KeyringEntry[];
  retired(): Array<{ id: string; retired: Date }>;
  /**
   * rotate makes a new active KEK (a software one, or an AES key generated in a token: `onGenerated` runs after the
   * token made it and before the keyring names it); the previous active one becomes retiring. Returns the new KEK.
   */
  rotate(now: Date, to?: KekTarget, onGenerated?: () => void | Promise<void>): Promise<KeyEncryptionKey>;
  /**
   * retire destroys the key material of these retiring KEKs (never the active one): the keyring is rewritten without
   * them, `onSaved` runs, then the objects of token KEKs are destroyed in their tokens.
   */
  retire(ids: readonly string[], now: Date, onSaved?: () => void | Promise<void>): Promise<RetireResult>;
  /** close zeroes the key material held in memory. */
  close(): void;
}

/** KeyringOptions: log2N is scrypt's cost for a new keyring (default 16; tests may use SEALED_KEY_MIN_LOG2N). */
export interface KeyringOptions {
  log2N?: number;
  now?: Date;
  /** pkcs11 opens token KEKs: cwd resolves a relative pin-source at rotation, env gives CUSTODY_PKCS11_* (default: this process). */
  pkcs11?: Pkcs11Options | undefined;
}

/**
 * KeyringOpenOptions: pkcs11 as in KeyringOptions; maxLog2N caps the scrypt cost a keyring file may ask for, checked
 * before any derivation (ERR_LIMIT_KDF_COST). The file names its own cost, up to SEALED_KEY_MAX_LOG2N (2^20: 1 GiB
 * and seconds of CPU), and the default accepts all of it: a keyring is the operator's own file. A caller opening
 * files it trusts less (the fuzz target: every input is hostile) sets the cap, as age's scrypt identities cap their
 * work factor.
 */
export interface KeyringOpenOptions {
  pkcs11?: Pkcs11Options | undefined;
  maxLog2N?: number | undefined;
}

interface Held {
  kek: AesGcmKek | TokenKek;
  state: KekState;
  created: Date;
}

function defaultPkcs11(o: Pkcs11Options | undefined): Pkcs11Options {
  return o ?? { cwd: process.cwd(), env: process.env };
}

function closeKek(k: AesGcmKek | TokenKek): void {
  if (k instanceof AesGcmKek) k.destroy();
  else k.close();
}

const enc = new TextEncoder();

function newKekId(): string {
  return `kek-${encodeHex(randomBytes(8))}`;
}

function headerAad(log2n: number, salt: string): Uint8Array {
  return enc.encode(`${KEYRING_FORMAT}\nscrypt\n${log2n}\n${SCRYPT_R}\n${SCRYPT_P}\n${salt}\n`);
}

function bad(what: string): never {
  throw new FormatError('ERR_SECRETS_FORMAT', `keyring: ${what}`);
}

/** parseKeyringHeader checks the outer document (unauthenticated) under the caps; exported for the fuzz target. */
export function parseKeyringHeader(input: Uint8Array | string): { log2n: number; salt: Uint8Array; saltText: string; nonce: Uint8Array; ciphertext: Uint8Array } {
  const o = parseJsonObject(input, { maxBytes: KEYRING_FILE_MAX_BYTES, maxDepth: 2, maxValues: 32, what: 'keyring' });
  if (Object.keys(o).length !== HEADER_MEMBERS.length || !HEADER_MEMBERS.every((m) => Object.hasOwn(o, m))) {
    bad(`expected exactly the members ${HEADER_MEMBERS.join(', ')}`);
  }
  if (o.format !== KEYRING_FORMAT) bad('unknown format');
  if (o.kdf !== 'scrypt') bad('kdf must be scrypt');
  const log2n = o.log2n;
  // Read before anything is authenticated: cap the work a hostile file can demand (as crypto/sealed-key does).
  if (typeof log2n !== 'number' || !Number.isInteger(log2n) || log2n < SEALED_KEY_MIN_LOG2N || log2n > SEALED_KEY_MAX_LOG2N) bad('log2n out of range');
  if (o.r !== SCRYPT_R || o.p !== SCRYPT_P) bad(`scrypt r and p must be ${SCRYPT_R} and ${SCRYPT_P}`);
  if (typeof o.salt !== 'string' || typeof o.nonce !== 'string' || typeof o.ciphertext !== 'string') bad('salt, nonce and ciphertext must be strings');
  const salt = decodeBase64(o.salt, 16, 'keyring salt');
  const nonce = decodeBase64(o.nonce, 12, 'keyring nonce');
  const ciphertext = decodeBase64(o.ciphertext, undefined, 'keyring ciphertext');
  if (ciphertext.length < 16) bad('ciphertext is shorter than its tag');
  return { log2n, salt, saltText: o.salt, nonce, ciphertext };
}

/** parseKeyringList parses the decrypted list (authenticated, but still checked: a bug must not pass silently). */
function parseKeyringList(plain: Uint8Array, pkcs11: Pkcs11Options): { held: Held[]; retired: Array<{ id: string; retired: Date }> } {
  const o = parseJsonObject(plain, { maxBytes: KEYRING_FILE_MAX_BYTES, maxDepth: 4, what: 'keyring list' });
  const keks = o.keks;
  const retired = o.retired;
  if (!Array.isArray(keks) || !Array.isArray(retired) || Object.keys(o).length !== 2) bad('the list must hold keks and retired');
  if (keks.length < 1 || keks.length > KEYRING_MAX_KEKS) bad(`expected 1–${KEYRING_MAX_KEKS} keks`);
  if (retired.length > KEYRING_MAX_RETIRED) bad('too many retired ids');
  const ids = new Set<string>();
  const held: Held[] = [];
  for (const k of keks) {
    if (!isJsonObject(k) || typeof k.id !== 'string' || (k.state !== 'active' && k.state !== 'retiring')) bad('malformed kek');
    if (!KEK_ID_RE.test(k.id) || ids.has(k.id)) bad('invalid or duplicate kek id');
    ids.add(k.id);
    const created = parseTimestamp(k.created, 'kek created');
    if (typeof k.key === 'string' && !Object.hasOwn(k, 'uri')) {
      const key = decodeBase64(k.key, 32, 'kek');
      held.push({ kek: new AesGcmKek(k.id, key), state: k.state, created });
      key.fill(0);
    } else if (typeof k.uri === 'string' && !Object.hasOwn(k, 'key')) {
      const abs = (v: unknown, what: string): string | undefined => {
        if (v === null || v === undefined) return undefined;
        if (typeof v !== 'string' || !isAbsolute(v)) bad(`${what} must be an absolute path or null`);
        return v;
      };
      parsePkcs11Uri(k.uri);
      held.push({ kek: new TokenKek(k.id, { uri: k.uri, pinSource: abs(k.pin_source, 'pin_source'), modulePath: abs(k.module_path, 'module_path') }, pkcs11), state: k.state, created });
    } else {
      bad('a kek holds either key or uri');
    }
  }
  if (held.filter((h) => h.state === 'active').length !== 1) bad('expected exactly one active kek');
  const out: Array<{ id: string; retired: Date }> = [];
  for (const r of retired) {
    if (!isJsonObject(r) || typeof r.id !== 'string' || !KEK_ID_RE.test(r.id)) bad('malformed retired id');
    out.push({ id: r.id, retired: parseTimestamp(r.retired, 'kek retired') });
  }
  return { held, retired: out };
}

/**
 * PassphraseKeyring is the keyring file. The scrypt-derived key is derived once per process (open or create) and
 * reused for its later writes with a fresh nonce each time; it is zeroed by close.
 */
export class PassphraseKeyring implements Keyring {
  readonly path: string;
  #held: Held[];
  #retired: Array<{ id: string; retired: Date }>;
  readonly #sealKey: Uint8Array;
  readonly #log2n: number;
  readonly #saltText: string;
  readonly #pkcs11: Pkcs11Options;

  private constructor(path: string, held: Held[], retired: Array<{ id: string; retired: Date }>, sealKey: Uint8Array, log2n: number, saltText: string, pkcs11: Pkcs11Options) {
    this.path = path;
    this.#pkcs11 = pkcs11;
    this.#held = held;
    this.#retired = retired;
    this.#sealKey = sealKey;
    this.#log2n = log2n;
    this.#saltText = saltText;
  }

  /** create writes a new keyring with one active KEK; refuses (ERR_IO_EXISTS) when the file exists. */
  static async create(path: string, passphrase: Uint8Array, o: KeyringOptions = {}): Promise<PassphraseKeyring> {
    const log2n = o.log2N ?? SEALED_KEY_DEFAULT_LOG2N;
    const salt = randomBytes(16);
    const sealKey = deriveScryptKey(passphrase, salt, log2n);
    const key = randomBytes(32);
    const held: Held[] = [{ kek: new AesGcmKek(newKekId(), key), state: 'active', created: new Date(Math.floor((o.now ?? new Date()).getTime() / 1000) * 1000) }];
    key.fill(0);
    const ring = new PassphraseKeyring(path, held, [], sealKey, log2n, encodeBase64(salt), defaultPkcs11(o.pkcs11));
    await ring.#save(false);
    return ring;
  }

  /** open reads and decrypts a keyring; ERR_SECRETS_KEYRING_AUTH when the passphrase or the file is wrong. */
  static async open(path: string, passphrase: Uint8Array, o: KeyringOpenOptions = {}): Promise<PassphraseKeyring> {
    const raw = await readFileBounded(path, { maxBytes: KEYRING_FILE_MAX_BYTES, what: 'keyring', allowSymlink: true });
    return PassphraseKeyring.fromBytes(path, raw, passphrase, o);
  }

  /** fromBytes opens keyring file bytes (path names where later writes go). */
  static fromBytes(path: string, raw: Uint8Array, passphrase: Uint8Array, o: KeyringOpenOptions = {}): PassphraseKeyring {
    const h = parseKeyringHeader(raw);
    if (o.maxLog2N !== undefined && h.log2n > o.maxLog2N) {
      throw new LimitError('ERR_LIMIT_KDF_COST', `the keyring ${path} asks for scrypt at cost 2^${h.log2n}, over the 2^${o.maxLog2N} this caller accepts`);
    }
    const sealKey = deriveScryptKey(passphrase, h.salt, h.log2n);
    const plain = openWithKey(sealKey, { nonce: h.nonce, ciphertext: h.ciphertext }, headerAad(h.log2n, h.saltText));
    if (plain === undefined) {
      sealKey.fill(0);
      throw new ConfigError('ERR_SECRETS_KEYRING_AUTH', `cannot open the keyring ${path}: wrong passphrase or altered file`);
    }
    try {
      const pkcs11 = defaultPkcs11(o.pkcs11);
      const { held, retired } = parseKeyringList(plain, pkcs11);
      return new PassphraseKeyring(path, held, retired, sealKey, h.log2n, h.saltText, pkcs11);
    } catch (e) {
      sealKey.fill(0);
      throw e;
    } finally {
      plain.fill(0);
    }
  }

  /** openOrCreate opens the keyring at path, or creates it when the file does not exist. */
  static async openOrCreate(path: string, passphrase: Uint8Array, o: KeyringOptions = {}): Promise<{ keyring: PassphraseKeyring; created: boolean }> {
    const exists = await fsp.lstat(path).then(
      () => true,
      () => false,
    );
    if (exists) return { keyring: await PassphraseKeyring.open(path, passphrase, o), created: false };
    try {
      return { keyring: await PassphraseKeyring.create(path, passphrase, o), created: true };
    } catch (e) {
      // Another process created it meanwhile: open theirs.
      if (isTrustError(e) && e.code === 'ERR_IO_EXISTS') return { keyring: await PassphraseKeyring.open(path, passphrase, o), created: false };
      throw e;
    }
  }

  active(): KeyEncryptionKey {
    return this.#held.find((h) => h.state === 'active')!.kek;
  }

  find(id: string): KeyEncryptionKey | undefined {
    return this.#held.find((h) => h.kek.id === id)?.kek;
  }

  entries(): KeyringEntry[] {
    return this.#held.map((h) => ({
      id: h.kek.id,
      kind: h.kek instanceof TokenKek ? ('pkcs11' as const) : ('file' as const),
      ...(h.kek instanceof TokenKek ? { uri: h.kek.ref.uri } : {}),
      state: h.state,
      created: h.created,
    }));
  }

  retired(): Array<{ id: string; retired: Date }> {
    return this.#retired.map((r) => ({ ...r }));
  }

  async rotate(now: Date, to: KekTarget = { kind: 'file' }, onGenerated?: () => void | Promise<void>): Promise<KeyEncryptionKey> {
    if (this.#held.length >= KEYRING_MAX_KEKS) {
      throw new ConfigError('ERR_CONFIG_INVALID', `the keyring holds ${this.#held.length} KEKs, the most it may; finish the pending rewrap (custody secrets rewrap) first`);
    }
    let kek: AesGcmKek | TokenKek;
    if (to.kind === 'pkcs11') {
      // The key is made in the token first; the keyring names it only once it exists. A crash in between leaves an
      // object nothing refers to, never a keyring naming a key that is not there.
      const uri = parsePkcs11Uri(to.uri);
      const made = await generatePkcs11AesKey(uri, this.#pkcs11);
      const pinSource = uri.pinSource === undefined ? undefined : resolve(this.#pkcs11.cwd, uri.pinSource);
      kek = new TokenKek(newKekId(), { uri: made.uri, pinSource, modulePath: uri.modulePath }, this.#pkcs11);
      await onGenerated?.();
    } else {
      const key = randomBytes(32);
      kek = new AesGcmKek(newKekId(), key);
      key.fill(0);
    }
    const before = this.#held;
    this.#held = [...before.map((h) => ({ ...h, state: 'retiring' as const })), { kek, state: 'active', created: wholeSeconds(now) }];
    try {
      await this.#save(true);
    } catch (e) {
      this.#held = before;
      if (kek instanceof TokenKek) await kek.destroyInToken().catch(() => undefined);
      closeKek(kek);
      throw e;
    }
    return kek;
  }

  async retire(ids: readonly string[], now: Date, onSaved?: () => void | Promise<void>): Promise<RetireResult> {
    const drop = new Set(ids);
    const gone = this.#held.filter((h) => drop.has(h.kek.id) && h.state === 'retiring');
    if (gone.length === 0) return { leftInToken: [] };
    const before = { held: this.#held, retired: this.#retired };
    this.#held = this.#held.filter((h) => !gone.includes(h));
    this.#retired = [...this.#retired, ...gone.map((h) => ({ id: h.kek.id, retired: wholeSeconds(now) }))].slice(-KEYRING_MAX_RETIRED);
    try {
      await this.#save(true);
    } catch (e) {
      this.#held = before.held;
      this.#retired = before.retired;
      throw e;
    }
    await onSaved?.();
    const leftInToken: string[] = [];
    for (const h of gone) {
      if (h.kek instanceof TokenKek) {
        // The keyring no longer names it: destroying it now can only lose what nothing refers to.
        await h.kek.destroyInToken().catch(() => leftInToken.push(h.kek.id));
      }
      closeKek(h.kek);
    }
    return { leftInToken };
  }

  close(): void {
    for (const h of this.#held) closeKek(h.kek);
    this.#sealKey.fill(0);
  }

  async #save(overwrite: boolean): Promise<void> {
    const keys = this.#held.map((h) => (h.kek instanceof AesGcmKek ? h.kek.keyBytes() : undefined));
    const list: JsonObject = {
      keks: this.#held.map((h, i) => {
        const k = h.kek;
        if (k instanceof TokenKek) {
          return { id: k.id, uri: k.ref.uri, pin_source: k.ref.pinSource ?? null, module_path: k.ref.modulePath ?? null, created: formatTimestamp(h.created), state: h.state };
        }
        return { id: k.id, key: encodeBase64(keys[i]!), created: formatTimestamp(h.created), state: h.state };
      }),
      retired: this.#retired.map((r) => ({ id: r.id, retired: formatTimestamp(r.retired) })),
    };
    const plain = enc.encode(JSON.stringify(list));
    const box = sealWithKey(this.#sealKey, plain, headerAad(this.#log2n, this.#saltText));
    zeroize(plain, ...keys);
    const text =
      JSON.stringify({
        format: KEYRING_FORMAT,
        kdf: 'scrypt',
        log2n: this.#log2n,
        r: SCRYPT_R,
        p: SCRYPT_P,
        salt: this.#saltText,
        nonce: encodeBase64(box.nonce),
        ciphertext: encodeBase64(box.ciphertext),
      }) + '\n';
    await writeFileAtomic(this.path, text, { mode: 0o600, overwrite });
  }
}

function wholeSeconds(d: Date): Date {
  return new Date(Math.floor(d.getTime() / 1000) * 1000);
}
