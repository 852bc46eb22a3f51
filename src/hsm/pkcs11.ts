/**
 * hsm/pkcs11 — Ed25519 keys that never leave a token, over PKCS#11 v3.0 (OASIS "PKCS #11 Cryptographic Token
 * Interface Base Specification Version 3.0", §2.3.5 Edwards curves: CKK_EC_EDWARDS, CKM_EC_EDWARDS_KEY_PAIR_GEN,
 * CKM_EDDSA) through pkcs11js 2.1.x, with keys named by RFC 7512 URIs (hsm/uri).
 *
 * A {@link Pkcs11Signer} is a crypto `Signer`: `sign(message)` is synchronous because C_Sign is, so every caller that
 * signs with a file key signs with a token key unchanged. The signatures are pure Ed25519 (RFC 8032 §5.1; CKM_EDDSA
 * without parameters), byte-identical to what the same key would give in a file.
 *
 * Sessions: a signer opens its token once per process (C_Initialize is per process, so loaded modules are kept in a
 * process-wide table, MODULES) and keeps one session for synchronous signing plus a pool of `poolSize` sessions for
 * {@link Pkcs11Signer.signAsync} (C_SignAsync on libuv's thread pool; the daemon's concurrent requests). Each session
 * signs one message at a time: PKCS#11 allows one active operation per session (§5.6), so signing is serialized per
 * session by a promise chain, and sessions run in parallel only across the pool.
 *
 * Token errors: a session that the token invalidated (CKR_SESSION_HANDLE_INVALID, CKR_DEVICE_REMOVED,
 * CKR_TOKEN_NOT_PRESENT, CKR_OBJECT_HANDLE_INVALID after the token was re-initialized, CKR_CRYPTOKI_NOT_INITIALIZED
 * after a finalize, …) is re-opened ONCE per signing call; when that fails the call throws ERR_PKCS11_TOKEN_FAILED and
 * the signer reports itself unhealthy ({@link Pkcs11Signer.health}) until a later call re-opens it. A re-opened key
 * must have the same public key, or it is refused: a swapped token must not silently change who signs.
 *
 * PINs: from `pin-source=file:PATH` (one line; a trailing newline is dropped) or CUSTODY_PKCS11_PIN, never argv; the
 * signer keeps the PIN in memory to log in again after a re-open (as a file signer keeps its key), never in output. A
 * refused PIN (CKR_PIN_INCORRECT) is never retried: the signer stops logging in for the rest of the process, so a
 * wrong PIN file cannot walk a token into lockout; a locked PIN (CKR_PIN_LOCKED, or CKF_USER_PIN_LOCKED in the token
 * info) is reported before any login is attempted.
 *
 * Trust boundary: the module path is operator input (loading a library runs its code); the token is trusted to keep
 * the key, not to tell the truth about it: the key type, curve and EC point are checked, and the public key read from
 * the token is checked against one signature at open.
 */
import { createRequire } from 'node:module';
import { promises as fsp } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { PKCS11 } from 'pkcs11js';
import { PublicKey, randomBytes, verifyEd25519, type Signer } from '../crypto/index.ts';
import { ConfigError, FormatError, IoError, isTrustError, type TrustError } from '../errors.ts';
import { readFileBounded } from '../io/files.ts';
import { parsePkcs11Uri, formatPkcs11Uri, type Pkcs11Uri } from './uri.ts';

// PKCS#11 v3.0 values pkcs11js 2.1.x does not export (§2.3.5 and pkcs11t.h).
export const CKM_EC_EDWARDS_KEY_PAIR_GEN = 0x1055;
export const CKM_EDDSA = 0x1057;
export const CKK_EC_EDWARDS = 0x40;

// The PKCS#11 values used here (pkcs11t.h), named once so this module needs the native addon only when it signs.
const CKA_CLASS = 0x0;
const CKA_TOKEN = 0x1;
const CKA_PRIVATE = 0x2;
const CKA_LABEL = 0x3;
const CKA_KEY_TYPE = 0x100;
const CKA_ID = 0x102;
const CKA_SENSITIVE = 0x103;
const CKA_ENCRYPT = 0x104;
const CKA_DECRYPT = 0x105;
const CKA_WRAP = 0x106;
const CKA_UNWRAP = 0x107;
const CKA_SIGN = 0x108;
const CKA_DERIVE = 0x10c;
const CKA_VERIFY = 0x10a;
const CKA_EXTRACTABLE = 0x162;
const CKA_EC_PARAMS = 0x180;
const CKA_EC_POINT = 0x181;
const CKO_PUBLIC_KEY = 2;
const CKO_PRIVATE_KEY = 3;
const CKU_USER = 1;
const CKF_RW_SESSION = 0x2;
const CKF_SERIAL_SESSION = 0x4;
const CKF_OS_LOCKING_OK = 0x2;
const CKF_LOGIN_REQUIRED = 0x4;
const CKF_USER_PIN_LOCKED = 0x40000;

const CKR_PIN_INCORRECT = 0xa0;
const CKR_PIN_INVALID = 0xa1;
const CKR_PIN_LEN_RANGE = 0xa2;
const CKR_PIN_EXPIRED = 0xa3;
const CKR_PIN_LOCKED = 0xa4;
const CKR_USER_ALREADY_LOGGED_IN = 0x100;
const CKR_CRYPTOKI_ALREADY_INITIALIZED = 0x191;
/** REOPEN_CODES are the CKR_ values after which the session (or the whole module) is re-opened once. */
const REOPEN_CODES: ReadonlySet<number> = new Set([
  0x5, // CKR_GENERAL_ERROR
  0x30, // CKR_DEVICE_ERROR
  0x32, // CKR_DEVICE_REMOVED
  0x60, // CKR_KEY_HANDLE_INVALID
  0x82, // CKR_OBJECT_HANDLE_INVALID
  0xb0, // CKR_SESSION_CLOSED
  0xb3, // CKR_SESSION_HANDLE_INVALID
  0xe0, // CKR_TOKEN_NOT_PRESENT
  0xe1, // CKR_TOKEN_NOT_RECOGNIZED
  0x101, // CKR_USER_NOT_LOGGED_IN
  0x190, // CKR_CRYPTOKI_NOT_INITIALIZED
]);
/** KEEP_CODES keep their code when re-opening fails; every other failure of a key that worked is ERR_PKCS11_TOKEN_FAILED. */
const KEEP_CODES: ReadonlySet<string> = new Set(['ERR_PKCS11_PIN_INCORRECT', 'ERR_PKCS11_PIN_LOCKED', 'ERR_PKCS11_TOKEN_FAILED']);
const CKK_NAMES: Record<number, string> = { 0: 'CKK_RSA', 1: 'CKK_DSA', 2: 'CKK_DH', 3: 'CKK_EC (ECDSA)', 0x1f: 'CKK_AES', 0x40: 'CKK_EC_EDWARDS', 0x41: 'CKK_EC_MONTGOMERY' };

/** ED25519_EC_PARAMS: DER of OID 1.3.101.112 (RFC 8410 id-Ed25519), what keygen stores in CKA_EC_PARAMS. */
const ED25519_EC_PARAMS = Buffer.from('06032b6570', 'hex');
/** ED25519_EC_PARAMS_NAME: PKCS#11 v3.0 §2.3.5 also allows PrintableString "edwards25519". */
const ED25519_EC_PARAMS_NAME = Buffer.concat([Buffer.from([0x13, 12]), Buffer.from('edwards25519')]);
/** PIN_FILE_MAX_BYTES bounds a PIN file; PINs are short. */
export const PIN_FILE_MAX_BYTES = 1024;
/** MAX_MATCHES bounds how many matching objects a lookup reads: two already mean "ambiguous". */
const MAX_MATCHES = 16;
/** KEY_CHECK_MESSAGE is signed once at open to prove the public key read from the token is the private key's. */
const KEY_CHECK_MESSAGE = Buffer.from('custody pkcs11 key check v1');

type Handle = Buffer;

/** Pkcs11Options are what opening a token key needs beyond the URI. */
export interface Pkcs11Options {
  /** cwd resolves relative pin-source paths. */
  cwd: string;
  /** env supplies CUSTODY_PKCS11_MODULE and CUSTODY_PKCS11_PIN. */
  env: Readonly<Record<string, string | undefined>>;
  /** poolSize is the number of sessions for signAsync (default 1; 1..16). */
  poolSize?: number;
  /** warn receives operator warnings (a PIN file readable by others). */
  warn?: (message: string) => void;
}

interface LoadedModule {
  lib: PKCS11;
  path: string;
}

// C_Initialize/C_Finalize are per process (PKCS#11 §5.4), so a module is loaded once and shared by every signer.
const MODULES = new Map<string, LoadedModule>();

function pkcs11Error(e: unknown): { code: number; name: string } | undefined {
  const x = e as { code?: unknown; message?: unknown; name?: unknown } | null;
  if (x && typeof x.code === 'number' && typeof x.message === 'string' && /^CKR_/.test(x.message)) return { code: x.code, name: x.message };
  return undefined;
}

function ckrName(e: unknown): string {
  if (isTrustError(e)) return `${e.message} [${e.code}]`;
  return pkcs11Error(e)?.name ?? (e instanceof Error ? e.message.split('\n')[0]!.slice(0, 120) : 'unknown error');
}

function tokenFailed(what: string, e: unknown): IoError {
  return new IoError('ERR_PKCS11_TOKEN_FAILED', `${what}: ${ckrName(e)}`, { cause: e });
}

function initialize(lib: PKCS11): void {
  try {
    // CKF_OS_LOCKING_OK: signAsync calls the module from libuv's threads, so it must lock (§5.4 C_Initialize).
    lib.C_Initialize({ flags: CKF_OS_LOCKING_OK });
  } catch (e) {
    if (pkcs11Error(e)?.code !== CKR_CRYPTOKI_ALREADY_INITIALIZED) throw e;
  }
}

/** modulePathFor picks the module: the URI's module-path, else CUSTODY_PKCS11_MODULE; absolute paths only. */
export function modulePathFor(uri: Pkcs11Uri, env: Readonly<Record<string, string | undefined>>): string {
  const p = uri.modulePath ?? env.CUSTODY_PKCS11_MODULE;
  if (p === undefined || p === '') {
    throw new ConfigError('ERR_PKCS11_MODULE', 'no PKCS#11 module: the URI has no module-path and CUSTODY_PKCS11_MODULE is not set');
  }
  // A bare name would be looked up on the loader's search path: say exactly which library runs in this process.
  if (!isAbsolute(p)) throw new ConfigError('ERR_PKCS11_MODULE', `expected an absolute PKCS#11 module path, got ${JSON.stringify(p.slice(0, 200))}`);
  return p;
}

function loadModule(path: string): LoadedModule {
  const have = MODULES.get(path);
  if (have) return have;
  // The native addon is loaded on first use only: commands with file keys never load it.
  const require = createRequire(import.meta.url);
  let mod: typeof import('pkcs11js');
  try {
    mod = require('pkcs11js') as typeof import('pkcs11js');
  } catch (e) {
    throw new ConfigError('ERR_PKCS11_MODULE', 'the pkcs11js native addon cannot be loaded', { cause: e });
  }
  const lib = new mod.PKCS11();
  try {
    lib.load(path);
  } catch (e) {
    throw new ConfigError('ERR_PKCS11_MODULE', `cannot load the PKCS#11 module ${path}: ${ckrName(e)}`, { cause: e });
  }
  try {
    initialize(lib);
  } catch (e) {
    throw new ConfigError('ERR_PKCS11_MODULE', `the PKCS#11 module ${path} failed to initialize: ${ckrName(e)}`, { cause: e });
  }
  const m = { lib, path };
  MODULES.set(path, m);
  return m;
}

/** readPin reads the PIN from pin-source or CUSTODY_PKCS11_PIN; undefined when neither is given. */
async function readPin(uri: Pkcs11Uri, o: Pkcs11Options): Promise<string | undefined> {
  if (uri.pinSource !== undefined) {
    const p = resolve(o.cwd, uri.pinSource);
    const raw = await readFileBounded(p, { maxBytes: PIN_FILE_MAX_BYTES, allowSymlink: true, what: 'PIN file' });
    const st = await fsp.stat(p);
    if ((st.mode & 0o077) !== 0) o.warn?.(`${uri.pinSource} is readable by group or others; chmod 600 it`);
    return raw.toString('utf8').replace(/\r?\n$/, '');
  }
  const env = o.env.CUSTODY_PKCS11_PIN;
  return env === undefined || env === '' ? undefined : env;
}

const trimmed = (s: string) => s.replace(/[ \0]+$/, '');

function handleNumber(h: Handle): bigint {
  return h.length >= 8 ? h.readBigUInt64LE(0) : BigInt(h.readUInt32LE(0));
}

/** findSlot returns the one present token the URI's token attributes match. */
function findSlot(lib: PKCS11, uri: Pkcs11Uri): Handle {
  let slots: Handle[];
  try {
    slots = lib.C_GetSlotList(true);
  } catch (e) {
    throw tokenFailed('cannot list the token slots', e);
  }
  const info = (() => {
    if (uri.libraryManufacturer === undefined && uri.libraryDescription === undefined && uri.libraryVersion === undefined) return undefined;
    try {
      return lib.C_GetInfo();
    } catch (e) {
      throw tokenFailed('cannot read the module info', e);
    }
  })();
  if (info) {
    const ver = `${info.libraryVersion.major}.${info.libraryVersion.minor}`;
    if (
      (uri.libraryManufacturer !== undefined && trimmed(info.manufacturerID) !== uri.libraryManufacturer) ||
      (uri.libraryDescription !== undefined && trimmed(info.libraryDescription) !== uri.libraryDescription) ||
      (uri.libraryVersion !== undefined && ver !== uri.libraryVersion && `${info.libraryVersion.major}` !== uri.libraryVersion)
    ) {
      throw new ConfigError('ERR_PKCS11_TOKEN_NOT_FOUND', 'the module does not match the library-* attributes of the URI');
    }
  }
  const matches: Handle[] = [];
  for (const slot of slots) {
    if (uri.slotId !== undefined && handleNumber(slot) !== BigInt(uri.slotId)) continue;
    let t;
    try {
      t = lib.C_GetTokenInfo(slot);
    } catch {
      continue; // a slot whose token vanished between the list and the query is not a match
    }
    if (uri.token !== undefined && trimmed(t.label) !== uri.token) continue;
    if (uri.manufacturer !== undefined && trimmed(t.manufacturerID) !== uri.manufacturer) continue;
    if (uri.serial !== undefined && trimmed(t.serialNumber) !== uri.serial) continue;
    if (uri.model !== undefined && trimmed(t.model) !== uri.model) continue;
    if (uri.slotDescription !== undefined || uri.slotManufacturer !== undefined) {
      let si;
      try {
        si = lib.C_GetSlotInfo(slot);
      } catch {
        continue;
      }
      if (uri.slotDescription !== undefined && trimmed(si.slotDescription) !== uri.slotDescription) continue;
      if (uri.slotManufacturer !== undefined && trimmed(si.manufacturerID) !== uri.slotManufacturer) continue;
    }
    matches.push(slot);
  }
  const which = uri.token !== undefined ? `token ${JSON.stringify(uri.token)}` : 'the URI';
  if (matches.length === 0) throw new ConfigError('ERR_PKCS11_TOKEN_NOT_FOUND', `no present token matches ${which}`);
  if (matches.length > 1) {
    throw new ConfigError('ERR_PKCS11_KEY_AMBIGUOUS', `${matches.length} tokens match ${which}; add token=, serial= or slot-id= to name one`);
  }
  return matches[0]!;
}

function findObjects(lib: PKCS11, s: Handle, template: Array<{ type: number; value: number | boolean | Buffer | string }>): Handle[] {
  lib.C_FindObjectsInit(s, template);
  try {
    return lib.C_FindObjects(s, MAX_MATCHES);
  } finally {
    lib.C_FindObjectsFinal(s);
  }
}

function attr(lib: PKCS11, s: Handle, o: Handle, type: number): Buffer {
  const [r] = lib.C_GetAttributeValue(s, o, [{ type }]);
  return r?.value ?? Buffer.alloc(0);
}

function ulong(b: Buffer): number {
  return b.length >= 8 ? Number(b.readBigUInt64LE(0)) : b.length === 4 ? b.readUInt32LE(0) : -1;
}

/** describeUri names the key in messages: the URI's path attributes without pin-source or module-path. */
function describeUri(uri: Pkcs11Uri): string {
  return formatPkcs11Uri({ token: uri.token, object: uri.object, id: uri.id, type: uri.type });
}

/** keyTemplate is the search template of the URI's object attributes for one object class. */
function keyTemplate(uri: Pkcs11Uri, cls: number): Array<{ type: number; value: number | Buffer | string }> {
  const t: Array<{ type: number; value: number | Buffer | string }> = [{ type: CKA_CLASS, value: cls }];
  if (uri.object !== undefined) t.push({ type: CKA_LABEL, value: Buffer.from(uri.object, 'utf8') });
  if (uri.id !== undefined) t.push({ type: CKA_ID, value: Buffer.from(uri.id) });
  return t;
}

/**
 * readEd25519Point reads CKA_EC_POINT of an Ed25519 public key object. PKCS#11 v3.0 §2.3.5 says it holds the DER
 * OCTET STRING of the 32-byte RFC 8032 encoding (SoftHSM2: 04 20 ‖ A); some tokens store the 32 raw bytes. Both are
 * accepted; anything else is refused.
 */
export function readEd25519Point(point: Uint8Array): PublicKey {
  if (point.length === 34 && point[0] === 0x04 && point[1] === 0x20) return PublicKey.fromRaw(point.subarray(2));
  if (point.length === 32) return PublicKey.fromRaw(point);
  throw new ConfigError('ERR_PKCS11_KEY_TYPE', `expected CKA_EC_POINT to be a 32-byte Ed25519 point (raw or in a DER OCTET STRING), got ${point.length} bytes`);
}

function checkEd25519(lib: PKCS11, s: Handle, o: Handle, what: string): void {
  const kt = ulong(attr(lib, s, o, CKA_KEY_TYPE));
  if (kt !== CKK_EC_EDWARDS) {
    throw new ConfigError('ERR_PKCS11_KEY_TYPE', `${what} is not an Ed25519 key: expected CKK_EC_EDWARDS, got ${CKK_NAMES[kt] ?? `key type 0x${kt.toString(16)}`}`);
  }
  let params: Buffer;
  try {
    params = attr(lib, s, o, CKA_EC_PARAMS);
  } catch {
    return; // a private key object need not carry CKA_EC_PARAMS; its public half is checked below
  }
  if (params.length > 0 && !params.equals(ED25519_EC_PARAMS) && !params.equals(ED25519_EC_PARAMS_NAME)) {
    throw new ConfigError('ERR_PKCS11_KEY_TYPE', `${what} is an Edwards key on another curve than edwards25519 (CKA_EC_PARAMS ${params.toString('hex').slice(0, 64)})`);
  }
}

interface PoolSession {
  handle: Handle;
  /** tail serializes the operations of this session (one active operation per session, PKCS#11 §5.6). */
  tail: Promise<unknown>;
  busy: number;
}

/** Pkcs11Health is what a daemon's /health reports for a token key. */
export interface Pkcs11Health {
  ok: boolean;
  /** reason says why the key is unusable (the last token error), never a PIN. */
  reason?: string;
}

/** Pkcs11Signer is an Ed25519 key held in a token; see the module doc for sessions, errors and PINs. */
export class Pkcs11Signer implements Signer {
  /** uri names the key (path attributes only: no PIN source, no module path). */
  readonly uri: string;
  readonly modulePath: string;
  #publicKey: PublicKey | undefined;
  readonly #parsed: Pkcs11Uri;
  readonly #pin: string | undefined;
  readonly #poolSize: number;
  #mod: LoadedModule;
  #sync: Handle | undefined;
  #pool: PoolSession[] = [];
  #key: Handle | undefined;
  #next = 0;
  #health: Pkcs11Health = { ok: true };
  /** #pinRefused: the token refused our PIN once; we never present it again (lockout counters). */
  #pinRefused: TrustError | undefined;
  #closed = false;

  /** @internal use {@link openPkcs11Signer}. */
  constructor(uri: Pkcs11Uri, modulePath: string, pin: string | undefined, poolSize: number) {
    this.#parsed = uri;
    this.uri = describeUri(uri);
    this.modulePath = modulePath;
    this.#pin = pin;
    this.#poolSize = poolSize;
    this.#mod = loadModule(modulePath);
  }

  get publicKey(): PublicKey {
    if (!this.#publicKey) throw new Error('pkcs11 signer used before open');
    return this.#publicKey;
  }

  /** health tells whether the last use of the token worked. */
  health(): Pkcs11Health {
    return { ...this.#health };
  }

  /** open finds the token and key, logs in, reads and checks the public key, and opens the session pool. */
  open(): void {
    if (this.#pinRefused) throw this.#pinRefused;
    const { lib } = this.#mod;
    const uri = this.#parsed;
    if (uri.unknownPath.length > 0) {
      // RFC 7512 §2.3: an unrecognized path attribute "MUST result in an empty set of matched resources".
      throw new ConfigError('ERR_PKCS11_KEY_NOT_FOUND', `the URI has path attributes this version does not understand (${uri.unknownPath.join(', ')}); RFC 7512 says they match nothing`);
    }
    if (uri.type !== undefined && uri.type !== 'private') {
      throw new ConfigError('ERR_PKCS11_KEY_TYPE', `expected a URI naming a private key (type=private or no type), got type=${uri.type}`);
    }
    try {
      // A no-op when initialized (CKR_CRYPTOKI_ALREADY_INITIALIZED); after a C_Finalize elsewhere in the process, the
      // module is initialized again here.
      initialize(lib);
    } catch (e) {
      throw tokenFailed('cannot initialize the PKCS#11 module', e);
    }
    const slot = findSlot(lib, uri);
    const { session: s, label, loginRequired } = openTokenSession(lib, slot, false);
    const pool: PoolSession[] = [];
    try {
      if (loginRequired) this.#login(s, label);
      const { key, publicKey } = findSigningKey(lib, s, uri);
      // The public key object and the private key are separate objects: prove they are one pair before trusting it.
      lib.C_SignInit(s, { mechanism: CKM_EDDSA }, key);
      const sig = lib.C_Sign(s, KEY_CHECK_MESSAGE, Buffer.alloc(64));
      if (!verifyEd25519(publicKey, KEY_CHECK_MESSAGE, sig)) {
        throw new ConfigError('ERR_PKCS11_KEY_NOT_FOUND', `the public key object of ${describeUri(uri)} does not belong to its private key`);
      }
      if (this.#publicKey && !this.#publicKey.equals(publicKey)) {
        throw new IoError('ERR_PKCS11_TOKEN_FAILED', `the token now holds another key under ${describeUri(uri)}; refusing to sign with it`);
      }
      this.#publicKey = publicKey;
      this.#key = key;
      this.#sync = s;
      try {
        for (let i = 0; i < this.#poolSize; i++) pool.push({ handle: lib.C_OpenSession(slot, CKF_SERIAL_SESSION), tail: Promise.resolve(), busy: 0 });
      } catch (e) {
        for (const p of pool) closeQuietly(lib, p.handle);
        throw e;
      }
      this.#pool = pool;
      this.#health = { ok: true };
    } catch (e) {
      closeQuietly(lib, s);
      if (isTrustError(e)) throw e;
      throw tokenFailed(`cannot use the key ${describeUri(uri)}`, e);
    }
  }

  #login(s: Handle, label: string): void {
    if (this.#pin === undefined) {
      throw new ConfigError('ERR_PKCS11_PIN_REQUIRED', `token ${JSON.stringify(label)} needs its user PIN and none was given`);
    }
    try {
      loginOnce(this.#mod.lib, s, this.#pin, label);
    } catch (e) {
      // A refused or locked PIN is never presented again by this process: every retry would count toward lockout.
      if (isTrustError(e) && (e.code === 'ERR_PKCS11_PIN_INCORRECT' || e.code === 'ERR_PKCS11_PIN_LOCKED')) this.#pinRefused = e;
      throw e;
    }
  }

  /** #reopen drops every session and opens the token again (re-initializing a finalized module). */
  #reopen(): void {
    const { lib } = this.#mod;
    if (this.#sync) closeQuietly(lib, this.#sync);
    this.#sync = undefined;
    for (const p of this.#pool) if (p.busy === 0) closeQuietly(lib, p.handle);
    this.#pool = [];
    this.open();
  }

  /** #withReopen runs op; after a token error it re-opens once and runs op again. */
  #withReopen<T>(op: () => T): T {
    if (this.#closed) throw new Error('pkcs11 signer used after close');
    if (this.#pinRefused) throw this.#pinRefused;
    try {
      if (!this.#sync || !this.#key) this.open();
      return op();
    } catch (e) {
      if (isTrustError(e)) {
        // A re-open after an earlier failure: the key existed, so "not found" now means the token went away.
        const err = this.#publicKey !== undefined && !KEEP_CODES.has(e.code) ? tokenFailed('the token is not usable', e) : e;
        this.#markFailed(err);
        throw err;
      }
      const c = pkcs11Error(e)?.code;
      if (c === undefined || !REOPEN_CODES.has(c)) {
        const err = tokenFailed('the token failed to sign', e);
        this.#markFailed(err);
        throw err;
      }
      try {
        this.#reopen();
        return op();
      } catch (e2) {
        // The key was there a moment ago: whatever re-opening says (token or key not found), it is an I/O failure of
        // the token, except a refused or locked PIN, which keeps its own code (the operator must act, not retry).
        const keep = isTrustError(e2) && KEEP_CODES.has(e2.code);
        const err = keep ? e2 : tokenFailed(`the token failed (${ckrName(e)}) and re-opening it failed`, e2);
        this.#markFailed(err);
        throw err;
      }
    }
  }

  #markFailed(e: TrustError): void {
    this.#health = { ok: false, reason: `${e.message} [${e.code}]` };
  }

  /** sign returns the 64-byte Ed25519 signature of message, made in the token (synchronous C_SignInit + C_Sign). */
  sign(message: Uint8Array): Uint8Array {
    return this.#withReopen(() => {
      const { lib } = this.#mod;
      lib.C_SignInit(this.#sync!, { mechanism: CKM_EDDSA }, this.#key!);
      const sig = lib.C_Sign(this.#sync!, Buffer.from(message.buffer, message.byteOffset, message.byteLength), Buffer.alloc(64));
      if (sig.length !== 64) throw new IoError('ERR_PKCS11_TOKEN_FAILED', `the token returned a ${sig.length}-byte signature, expected 64`);
      return new Uint8Array(sig);
    });
  }

  /**
   * signAsync signs on one of the pool's sessions without blocking the event loop (C_SignAsync); concurrent calls
   * spread over the pool and queue per session. Token errors re-open the token once, as sign does.
   */
  async signAsync(message: Uint8Array): Promise<Uint8Array> {
    if (this.#pool.length === 0) this.#withReopen(() => undefined);
    // The least busy session, round-robin among equals.
    let best: PoolSession | undefined;
    for (let i = 0; i < this.#pool.length; i++) {
      const p = this.#pool[(this.#next + i) % this.#pool.length]!;
      if (!best || p.busy < best.busy) best = p;
    }
    this.#next = (this.#next + 1) % Math.max(1, this.#pool.length);
    const p = best!;
    const key = this.#key!;
    const { lib } = this.#mod;
    p.busy++;
    const run = p.tail.then(async () => {
      lib.C_SignInit(p.handle, { mechanism: CKM_EDDSA }, key);
      return lib.C_SignAsync(p.handle, Buffer.from(message.buffer, message.byteOffset, message.byteLength), Buffer.alloc(64));
    });
    p.tail = run.catch(() => undefined);
    try {
      const sig = await run;
      if (sig.length !== 64) throw new IoError('ERR_PKCS11_TOKEN_FAILED', `the token returned a ${sig.length}-byte signature, expected 64`);
      return new Uint8Array(sig);
    } catch (e) {
      if (isTrustError(e)) throw e;
      // The pool's sessions went bad with the token: fall back to the synchronous path, which re-opens once.
      if (REOPEN_CODES.has(pkcs11Error(e)?.code ?? -1)) return this.sign(message);
      const err = tokenFailed('the token failed to sign', e);
      this.#markFailed(err);
      throw err;
    } finally {
      p.busy--;
      // A session left behind by a re-open is closed by the last operation that used it.
      if (p.busy === 0 && !this.#pool.includes(p)) closeQuietly(lib, p.handle);
    }
  }

  /** close ends this signer's sessions (the module stays loaded for other signers). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const { lib } = this.#mod;
    if (this.#sync) closeQuietly(lib, this.#sync);
    for (const p of this.#pool) closeQuietly(lib, p.handle);
    this.#sync = undefined;
    this.#pool = [];
  }

  /** Keep the PIN out of console.log and JSON.stringify. */
  toJSON(): { uri: string; publicKey: string | undefined } {
    return { uri: this.uri, publicKey: this.#publicKey?.hex };
  }
}

function closeQuietly(lib: PKCS11, s: Handle): void {
  try {
    lib.C_CloseSession(s);
  } catch {
    // the session is gone with the token; nothing to release
  }
}

/** findSigningKey finds the one Ed25519 private key the URI names and reads its public key. */
function findSigningKey(lib: PKCS11, s: Handle, uri: Pkcs11Uri): { key: Handle; publicKey: PublicKey } {
  const name = describeUri(uri);
  const keys = findObjects(lib, s, keyTemplate(uri, CKO_PRIVATE_KEY));
  if (keys.length === 0) throw new ConfigError('ERR_PKCS11_KEY_NOT_FOUND', `no private key in the token matches ${name}`);
  if (keys.length > 1) throw new ConfigError('ERR_PKCS11_KEY_AMBIGUOUS', `${keys.length >= MAX_MATCHES ? `${MAX_MATCHES} or more` : keys.length} private keys match ${name}`);
  const key = keys[0]!;
  checkEd25519(lib, s, key, `the private key ${name}`);
  // Its public half: the object with the same CKA_ID (and label, when the URI names one).
  const id = attr(lib, s, key, CKA_ID);
  const tmpl = keyTemplate({ ...uri, id: uri.id ?? id }, CKO_PUBLIC_KEY);
  const pubs = findObjects(lib, s, tmpl);
  if (pubs.length !== 1) {
    throw new ConfigError('ERR_PKCS11_KEY_NOT_FOUND', `expected one public key object beside the private key ${name}, found ${pubs.length}`);
  }
  checkEd25519(lib, s, pubs[0]!, `the public key ${name}`);
  return { key, publicKey: readEd25519Point(attr(lib, s, pubs[0]!, CKA_EC_POINT)) };
}

/**
 * openPkcs11Signer opens the Ed25519 key a `pkcs11:` URI names: module from module-path or CUSTODY_PKCS11_MODULE,
 * PIN from pin-source or CUSTODY_PKCS11_PIN. Throws the ERR_PKCS11_* codes (docs/errors.md).
 *
 * @example
 * const signer = await openPkcs11Signer('pkcs11:token=custody;object=release-1?pin-source=file:pin.txt', { cwd, env: process.env });
 * const sig = signer.sign(message);
 */
export async function openPkcs11Signer(uriText: string, o: Pkcs11Options): Promise<Pkcs11Signer> {
  const uri = parsePkcs11Uri(uriText);
  const modulePath = modulePathFor(uri, o.env);
  const pin = await readPin(uri, o);
  const poolSize = o.poolSize ?? 1;
  if (!Number.isInteger(poolSize) || poolSize < 1 || poolSize > 16) throw new ConfigError('ERR_CONFIG_INVALID', `expected a session pool of 1 to 16, got ${poolSize}`);
  const signer = new Pkcs11Signer(uri, modulePath, pin, poolSize);
  signer.open();
  return signer;
}

/** GeneratedKey is what keygen made in the token. */
export interface GeneratedPkcs11Key {
  publicKey: PublicKey;
  /** uri names the new private key (token, object, id; no PIN source). */
  uri: string;
  id: Uint8Array;
}

/**
 * generatePkcs11Key makes an Ed25519 key pair inside the token (CKM_EC_EDWARDS_KEY_PAIR_GEN): the private key is
 * CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE and not CKA_EXTRACTABLE, so it never leaves the token. The URI must name the
 * token and the object (label); its id is used when given, else a random 16-byte CKA_ID. Refuses
 * (ERR_PKCS11_KEY_EXISTS) when an object with that label or id exists: a second key under one name would make every
 * later URI ambiguous.
 */
export async function generatePkcs11Key(uriText: string, o: Pkcs11Options): Promise<GeneratedPkcs11Key> {
  const uri = parsePkcs11Uri(uriText);
  if (uri.object === undefined) throw new FormatError('ERR_PKCS11_URI_INVALID', 'keygen needs object=LABEL in the URI');
  if (uri.unknownPath.length > 0) throw new ConfigError('ERR_PKCS11_KEY_NOT_FOUND', `the URI has path attributes this version does not understand (${uri.unknownPath.join(', ')})`);
  if (uri.type !== undefined && uri.type !== 'private') throw new ConfigError('ERR_PKCS11_KEY_TYPE', `keygen makes a private key; got type=${uri.type}`);
  const modulePath = modulePathFor(uri, o.env);
  const pin = await readPin(uri, o);
  const { lib } = loadModule(modulePath);
  const slot = findSlot(lib, uri);
  const { session: s, label } = openTokenSession(lib, slot, true);
  try {
    if (pin === undefined) throw new ConfigError('ERR_PKCS11_PIN_REQUIRED', `token ${JSON.stringify(label)} needs its user PIN to make a key and none was given`);
    loginOnce(lib, s, pin, label);
    const id = uri.id ?? randomBytes(16);
    const labelBuf = Buffer.from(uri.object, 'utf8');
    const clash = [...findObjects(lib, s, [{ type: CKA_LABEL, value: labelBuf }]), ...findObjects(lib, s, [{ type: CKA_ID, value: Buffer.from(id) }])];
    if (clash.length > 0) throw new IoError('ERR_PKCS11_KEY_EXISTS', `token ${JSON.stringify(label)} already holds an object labelled ${JSON.stringify(uri.object)} or with its id`);
    const common = [
      { type: CKA_TOKEN, value: true },
      { type: CKA_LABEL, value: labelBuf },
      { type: CKA_ID, value: Buffer.from(id) },
      { type: CKA_KEY_TYPE, value: CKK_EC_EDWARDS },
    ];
    const kp = lib.C_GenerateKeyPair(
      s,
      { mechanism: CKM_EC_EDWARDS_KEY_PAIR_GEN },
      [
        ...common,
        { type: CKA_CLASS, value: CKO_PUBLIC_KEY },
        { type: CKA_PRIVATE, value: false },
        { type: CKA_VERIFY, value: true },
        { type: CKA_ENCRYPT, value: false },
        { type: CKA_WRAP, value: false },
        { type: CKA_EC_PARAMS, value: ED25519_EC_PARAMS },
      ],
      [
        ...common,
        { type: CKA_CLASS, value: CKO_PRIVATE_KEY },
        { type: CKA_PRIVATE, value: true },
        // A signing key and nothing else (SoftHSM2 would otherwise default decrypt/unwrap/derive to true).
        { type: CKA_SIGN, value: true },
        { type: CKA_DECRYPT, value: false },
        { type: CKA_UNWRAP, value: false },
        { type: CKA_DERIVE, value: false },
        // The key never leaves the token: not readable (SENSITIVE) and not wrappable out (EXTRACTABLE false).
        { type: CKA_SENSITIVE, value: true },
        { type: CKA_EXTRACTABLE, value: false },
      ],
    );
    const publicKey = readEd25519Point(attr(lib, s, kp.publicKey, CKA_EC_POINT));
    return { publicKey, uri: formatPkcs11Uri({ token: uri.token ?? label, object: uri.object, id }), id };
  } catch (e) {
    if (isTrustError(e)) throw e;
    throw tokenFailed('the token failed to make the key pair', e);
  } finally {
    closeQuietly(lib, s);
  }
}

function loginOnce(lib: PKCS11, s: Handle, pin: string, label: string): void {
  try {
    lib.C_Login(s, CKU_USER, pin);
  } catch (e) {
    // Login state is per application and token (PKCS#11 §5.6), not per session: a second session is already in.
    if (pkcs11Error(e)?.code === CKR_USER_ALREADY_LOGGED_IN) return;
    throw loginFailure(e, label);
  }
}

/**
 * loginFailure maps a C_Login failure to its coded refusal: CKR_PIN_LOCKED → ERR_PKCS11_PIN_LOCKED; a refused PIN
 * (CKR_PIN_INCORRECT, _INVALID, _LEN_RANGE, _EXPIRED) → ERR_PKCS11_PIN_INCORRECT; anything else → the token failed.
 */
export function loginFailure(e: unknown, label: string): TrustError {
  const c = pkcs11Error(e)?.code;
  if (c === CKR_PIN_LOCKED) return new ConfigError('ERR_PKCS11_PIN_LOCKED', `the user PIN of token ${JSON.stringify(label)} is locked`, { cause: e });
  if (c === CKR_PIN_INCORRECT || c === CKR_PIN_INVALID || c === CKR_PIN_LEN_RANGE || c === CKR_PIN_EXPIRED) {
    return new ConfigError('ERR_PKCS11_PIN_INCORRECT', `token ${JSON.stringify(label)} refused the PIN (${ckrName(e)})`, { cause: e });
  }
  return tokenFailed('login failed', e);
}

/** TokenSession is a session opened by {@link openTokenSession}, with what the token said of itself. */
export interface TokenSession {
  session: Handle;
  label: string;
  loginRequired: boolean;
}

/**
 * openTokenSession reads the token info of `slot` (refusing a locked user PIN before any login: the lockout is the
 * token's, never to be retried) and opens a session, read-write when `rw`. Token failures are coded I/O errors.
 */
export function openTokenSession(lib: PKCS11, slot: Handle, rw: boolean): TokenSession {
  let info;
  try {
    info = lib.C_GetTokenInfo(slot);
  } catch (e) {
    throw tokenFailed('cannot read the token info', e);
  }
  const label = trimmed(info.label);
  if ((info.flags & CKF_USER_PIN_LOCKED) !== 0) throw new ConfigError('ERR_PKCS11_PIN_LOCKED', `the user PIN of token ${JSON.stringify(label)} is locked`);
  try {
    const session = lib.C_OpenSession(slot, rw ? CKF_SERIAL_SESSION | CKF_RW_SESSION : CKF_SERIAL_SESSION);
    return { session, label, loginRequired: (info.flags & CKF_LOGIN_REQUIRED) !== 0 };
  } catch (e) {
    throw tokenFailed(`cannot open a ${rw ? 'read-write ' : ''}session with the token`, e);
  }
}

/**
 * The session plumbing shared with hsm/aes-key (the token-held KEK): one module table, one login policy, one error
 * mapping for every kind of token key. Internal to src/hsm; other folders use the openers.
 */
export {
  CKA_CLASS,
  CKA_DECRYPT,
  CKA_DERIVE,
  CKA_ENCRYPT,
  CKA_EXTRACTABLE,
  CKA_ID,
  CKA_KEY_TYPE,
  CKA_LABEL,
  CKA_PRIVATE,
  CKA_SENSITIVE,
  CKA_SIGN,
  CKA_TOKEN,
  CKA_UNWRAP,
  CKA_VERIFY,
  CKA_WRAP,
  CKK_NAMES,
  REOPEN_CODES,
  attr,
  closeQuietly,
  describeUri,
  findObjects,
  findSlot,
  initialize,
  loadModule,
  loginOnce,
  pkcs11Error,
  readPin,
  tokenFailed,
  ulong,
};
export type { Handle, LoadedModule };
