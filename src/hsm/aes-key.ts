/**
 * hsm/aes-key — an AES-256 key that never leaves a PKCS#11 token, used with CKM_AES_GCM (PKCS#11 v2.40 / v3.0
 * "Current Mechanisms" §2.10.4 AES-GCM; NIST SP 800-38D) to wrap and unwrap the secret store's data keys: the
 * key-encryption key (KEK) of secrets/token-kek. The data key goes into the token as plaintext of C_Encrypt and comes
 * back out of C_Decrypt; the KEK itself is CKA_SENSITIVE and not CKA_EXTRACTABLE, so no call returns it.
 *
 * Wrapped bytes, the same layout as the keyring's software KEKs (secrets/kek AesGcmKek):
 * ```
 * nonce (12 bytes, random, drawn here from the host CSPRNG) || AES-256-GCM ciphertext (32) || tag (16)   = 60 bytes
 * ```
 * The GCM parameters are CK_GCM_PARAMS { pIv = nonce, ulIvLen = 12, ulIvBits = 96, pAAD = aad, ulTagBits = 128 }.
 * The nonce is chosen by the host, not the token, so the same bytes come out of any conforming token (and
 * test/secrets/token-kek.test.ts checks them against Node's AES-GCM with an imported key of known value); a random
 * 96-bit nonce per wrap keeps the SP 800-38D §8.3 budget (2^32 wraps per key) far away, as for the software KEKs.
 * CKM_AES_KEY_WRAP_KWP (RFC 5649) would be the alternative; SoftHSM2 2.6 does not offer it, and GCM binds the
 * associated data (secret name, version, key ids) that KWP cannot.
 *
 * Key objects this module accepts: CKO_SECRET_KEY, CKK_AES, CKA_VALUE_LEN 32, CKA_SENSITIVE true, CKA_EXTRACTABLE
 * false, CKA_ENCRYPT and CKA_DECRYPT true; anything else is ERR_PKCS11_KEK_TYPE. {@link generatePkcs11AesKey} makes
 * such a key (also CKA_TOKEN, CKA_PRIVATE, and no wrap, unwrap, sign, verify or derive).
 *
 * Sessions, PINs and token errors follow hsm/pkcs11: one read-write session per key; a refused or locked PIN is never
 * presented again by this object; after a token error the session is re-opened once within the call, and failing
 * that the call throws ERR_PKCS11_TOKEN_FAILED. A GCM authentication failure is not a token error: SoftHSM2 reports
 * it as CKR_GENERAL_ERROR (others as CKR_ENCRYPTED_DATA_INVALID), so after a failed C_Decrypt the session is probed
 * (C_GetSessionInfo); a live session means the bytes or the associated data were wrong, and `decrypt` returns
 * undefined without anything decrypted.
 */
import type { PKCS11 } from 'pkcs11js';
import { randomBytes } from '../crypto/index.ts';
import { ConfigError, FormatError, IoError, isTrustError, type TrustError } from '../errors.ts';
import {
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
  openTokenSession,
  initialize,
  loadModule,
  loginOnce,
  modulePathFor,
  pkcs11Error,
  readPin,
  tokenFailed,
  ulong,
  type Handle,
  type LoadedModule,
  type Pkcs11Options,
} from './pkcs11.ts';
import { formatPkcs11Uri, parsePkcs11Uri, type Pkcs11Uri } from './uri.ts';

// pkcs11t.h values pkcs11js exports under other names or not at all.
const CKO_SECRET_KEY = 4;
const CKK_AES = 0x1f;
const CKA_VALUE_LEN = 0x161;
const CKM_AES_KEY_GEN = 0x1080;
const CKM_AES_GCM = 0x1087;
/** CK_PARAMS_AES_GCM is pkcs11js's tag for a CK_GCM_PARAMS parameter (checked against Node's AES-GCM by the tests). */
const CK_PARAMS_AES_GCM = 3;
const CKR_MECHANISM_INVALID = 0x70;
const CKR_KEY_TYPE_INCONSISTENT = 0x63;
const CKR_KEY_FUNCTION_NOT_PERMITTED = 0x68;
/**
 * GCM_REFUSAL_CODES are what a token answers C_Decrypt when the tag does not verify: CKR_ENCRYPTED_DATA_INVALID and
 * _LEN_RANGE (the standard's), CKR_DATA_INVALID, and CKR_GENERAL_ERROR (SoftHSM2 2.6). With a live session they mean
 * the bytes, not the token.
 */
const GCM_REFUSAL_CODES: ReadonlySet<number> = new Set([0x5, 0x20, 0x21, 0x40, 0x41]);

/** TOKEN_KEK_NONCE_BYTES, TOKEN_KEK_TAG_BYTES: GCM's 96-bit nonce and 128-bit tag. */
export const TOKEN_KEK_NONCE_BYTES = 12;
export const TOKEN_KEK_TAG_BYTES = 16;
/** AES_KEK_KEY_BYTES: the token key is AES-256. */
export const AES_KEK_KEY_BYTES = 32;
/** AES_KEK_MAX_PLAINTEXT_BYTES bounds what is sent through the token (data keys are 32 bytes). */
const AES_KEK_MAX_PLAINTEXT_BYTES = 64;

function gcm(nonce: Uint8Array, aad: Uint8Array): { mechanism: number; parameter: { type: number; iv: Buffer; aad: Buffer; ivBits: number; tagBits: number } } {
  return {
    mechanism: CKM_AES_GCM,
    parameter: { type: CK_PARAMS_AES_GCM, iv: Buffer.from(nonce), aad: Buffer.from(aad), ivBits: TOKEN_KEK_NONCE_BYTES * 8, tagBits: TOKEN_KEK_TAG_BYTES * 8 },
  };
}

function kekType(what: string): ConfigError {
  return new ConfigError('ERR_PKCS11_KEK_TYPE', what);
}

function secretKeyTemplate(uri: Pkcs11Uri): Array<{ type: number; value: number | Buffer }> {
  const t: Array<{ type: number; value: number | Buffer }> = [{ type: CKA_CLASS, value: CKO_SECRET_KEY }];
  if (uri.object !== undefined) t.push({ type: CKA_LABEL, value: Buffer.from(uri.object, 'utf8') });
  if (uri.id !== undefined) t.push({ type: CKA_ID, value: Buffer.from(uri.id) });
  return t;
}

function boolAttr(lib: PKCS11, s: Handle, o: Handle, type: number): boolean {
  const v = attr(lib, s, o, type);
  return v.length > 0 && v[0] !== 0;
}

/** checkAesKek refuses a key object that is not a sensitive, non-extractable AES-256 encrypt/decrypt key. */
function checkAesKek(lib: PKCS11, s: Handle, key: Handle, name: string): void {
  const kt = ulong(attr(lib, s, key, CKA_KEY_TYPE));
  if (kt !== CKK_AES) throw kekType(`${name} is not an AES key: expected CKK_AES, got ${CKK_NAMES[kt] ?? `key type 0x${kt.toString(16)}`}`);
  const len = ulong(attr(lib, s, key, CKA_VALUE_LEN));
  if (len !== AES_KEK_KEY_BYTES) throw kekType(`${name} is AES-${len * 8}, expected AES-256`);
  // A KEK whose value can be read or wrapped out is a file key with extra steps: refuse it.
  if (!boolAttr(lib, s, key, CKA_SENSITIVE)) throw kekType(`${name} is not CKA_SENSITIVE: its value could be read out of the token`);
  if (boolAttr(lib, s, key, CKA_EXTRACTABLE)) throw kekType(`${name} is CKA_EXTRACTABLE: it could be wrapped out of the token`);
  if (!boolAttr(lib, s, key, CKA_ENCRYPT) || !boolAttr(lib, s, key, CKA_DECRYPT)) throw kekType(`${name} may not both encrypt and decrypt`);
}

/** Pkcs11AesKey is an AES-256 KEK held in a token (module doc). Open it with {@link openPkcs11AesKey}. */
export class Pkcs11AesKey {
  /** uri names the key (path attributes only). */
  readonly uri: string;
  readonly #parsed: Pkcs11Uri;
  readonly #pin: string | undefined;
  readonly #mod: LoadedModule;
  #session: Handle | undefined;
  #key: Handle | undefined;
  #pinRefused: TrustError | undefined;
  #closed = false;

  /** @internal use {@link openPkcs11AesKey}. */
  constructor(uri: Pkcs11Uri, modulePath: string, pin: string | undefined) {
    this.#parsed = uri;
    this.uri = describeUri(uri);
    this.#pin = pin;
    this.#mod = loadModule(modulePath);
  }

  /** open finds the token and the one secret key the URI names, logs in, and checks the key (module doc). */
  open(): void {
    if (this.#pinRefused) throw this.#pinRefused;
    const { lib } = this.#mod;
    const uri = this.#parsed;
    if (uri.unknownPath.length > 0) {
      throw new ConfigError('ERR_PKCS11_KEY_NOT_FOUND', `the URI has path attributes this version does not understand (${uri.unknownPath.join(', ')}); RFC 7512 says they match nothing`);
    }
    if (uri.type !== undefined && uri.type !== 'secret-key') throw kekType(`a KEK is a secret key; the URI says type=${uri.type}`);
    try {
      initialize(lib);
    } catch (e) {
      throw tokenFailed('cannot initialize the PKCS#11 module', e);
    }
    const slot = findSlot(lib, uri);
    // Read-write: retiring the KEK destroys its object (C_DestroyObject needs an R/W session for token objects).
    const { session: s, label, loginRequired } = openTokenSession(lib, slot, true);
    try {
      if (loginRequired) {
        if (this.#pin === undefined) throw new ConfigError('ERR_PKCS11_PIN_REQUIRED', `token ${JSON.stringify(label)} needs its user PIN and none was given`);
        try {
          loginOnce(lib, s, this.#pin, label);
        } catch (e) {
          // Never presented again by this object: every retry would count toward the token's lockout.
          if (isTrustError(e) && (e.code === 'ERR_PKCS11_PIN_INCORRECT' || e.code === 'ERR_PKCS11_PIN_LOCKED')) this.#pinRefused = e;
          throw e;
        }
      }
      const name = describeUri(uri);
      const keys = findObjects(lib, s, secretKeyTemplate(uri));
      if (keys.length === 0) throw new ConfigError('ERR_PKCS11_KEY_NOT_FOUND', `no secret key in the token matches ${name}`);
      if (keys.length > 1) throw new ConfigError('ERR_PKCS11_KEY_AMBIGUOUS', `${keys.length} secret keys match ${name}`);
      checkAesKek(lib, s, keys[0]!, `the key ${name}`);
      this.#session = s;
      this.#key = keys[0]!;
    } catch (e) {
      closeQuietly(lib, s);
      if (isTrustError(e)) throw e;
      throw tokenFailed(`cannot use the key ${describeUri(uri)}`, e);
    }
  }

  /** #run runs op on the session; after a token error it re-opens once and runs op again. */
  #run<T>(op: (lib: PKCS11, s: Handle, key: Handle) => T, onDataError?: (e: unknown) => T | undefined): T {
    if (this.#closed) throw new Error('pkcs11 AES key used after close');
    if (this.#pinRefused) throw this.#pinRefused;
    const { lib } = this.#mod;
    if (this.#session === undefined || this.#key === undefined) this.open();
    try {
      return op(lib, this.#session!, this.#key!);
    } catch (e) {
      if (isTrustError(e)) throw e;
      const c = pkcs11Error(e)?.code;
      if (c === CKR_MECHANISM_INVALID) throw kekType('the token does not offer CKM_AES_GCM');
      if (c === CKR_KEY_TYPE_INCONSISTENT || c === CKR_KEY_FUNCTION_NOT_PERMITTED) throw kekType(`the token refused the key for AES-GCM (${pkcs11Error(e)!.name})`);
      if (onDataError !== undefined && this.#sessionAlive()) {
        const r = onDataError(e);
        if (r !== undefined) return r;
      }
      if (c === undefined || !REOPEN_CODES.has(c)) throw tokenFailed('the token failed', e);
      try {
        closeQuietly(lib, this.#session!);
        this.#session = undefined;
        this.#key = undefined;
        this.open();
        return op(lib, this.#session!, this.#key!);
      } catch (e2) {
        if (isTrustError(e2) && (e2.code === 'ERR_PKCS11_PIN_INCORRECT' || e2.code === 'ERR_PKCS11_PIN_LOCKED' || e2.code === 'ERR_PKCS11_KEK_TYPE')) throw e2;
        if (onDataError !== undefined && !isTrustError(e2) && this.#sessionAlive()) {
          const r = onDataError(e2);
          if (r !== undefined) return r;
        }
        throw tokenFailed(`the token failed (${pkcs11Error(e)?.name ?? 'error'}) and re-opening it failed`, e2);
      }
    }
  }

  #sessionAlive(): boolean {
    if (this.#session === undefined) return false;
    try {
      this.#mod.lib.C_GetSessionInfo(this.#session);
      return true;
    } catch {
      return false;
    }
  }

  /** encrypt seals plaintext (≤ 64 bytes: a data key) under the token key: nonce || ciphertext || tag. */
  encrypt(plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
    if (plaintext.length > AES_KEK_MAX_PLAINTEXT_BYTES) throw new RangeError(`expected at most ${AES_KEK_MAX_PLAINTEXT_BYTES} bytes to wrap, got ${plaintext.length}`);
    const nonce = randomBytes(TOKEN_KEK_NONCE_BYTES);
    const ct = this.#run((lib, s, key) => {
      lib.C_EncryptInit(s, gcm(nonce, aad), key);
      return lib.C_Encrypt(s, Buffer.from(plaintext), Buffer.alloc(plaintext.length + TOKEN_KEK_TAG_BYTES + 16));
    });
    if (ct.length !== plaintext.length + TOKEN_KEK_TAG_BYTES) throw new IoError('ERR_PKCS11_TOKEN_FAILED', `the token returned ${ct.length} bytes of AES-GCM output, expected ${plaintext.length + TOKEN_KEK_TAG_BYTES}`);
    const out = new Uint8Array(TOKEN_KEK_NONCE_BYTES + ct.length);
    out.set(nonce, 0);
    out.set(ct, TOKEN_KEK_NONCE_BYTES);
    return out;
  }

  /**
   * decrypt opens nonce || ciphertext || tag inside the token; undefined when GCM refuses it (altered bytes, other
   * associated data, another key). Token failures throw ERR_PKCS11_TOKEN_FAILED.
   */
  decrypt(wrapped: Uint8Array, aad: Uint8Array): Uint8Array | undefined {
    if (wrapped.length < TOKEN_KEK_NONCE_BYTES + TOKEN_KEK_TAG_BYTES || wrapped.length > TOKEN_KEK_NONCE_BYTES + AES_KEK_MAX_PLAINTEXT_BYTES + TOKEN_KEK_TAG_BYTES) return undefined;
    const nonce = wrapped.subarray(0, TOKEN_KEK_NONCE_BYTES);
    const ct = Buffer.from(wrapped.subarray(TOKEN_KEK_NONCE_BYTES));
    const refused = Symbol('refused');
    const r = this.#run<Buffer | typeof refused>(
      (lib, s, key) => {
        lib.C_DecryptInit(s, gcm(nonce, aad), key);
        return lib.C_Decrypt(s, ct, Buffer.alloc(ct.length));
      },
      // The session still answers: the failure was about the bytes (GCM's tag), not the token.
      (e) => (GCM_REFUSAL_CODES.has(pkcs11Error(e)?.code ?? -1) ? refused : undefined),
    );
    if (r === refused) return undefined;
    if (r.length !== ct.length - TOKEN_KEK_TAG_BYTES) {
      r.fill(0);
      return undefined;
    }
    const out = new Uint8Array(r);
    r.fill(0);
    return out;
  }

  /** destroyObject destroys the key in the token (C_DestroyObject): what retiring a token KEK means. */
  destroyObject(): void {
    this.#run((lib, s, key) => lib.C_DestroyObject(s, key));
    this.close();
  }

  /** close ends the session (the module stays loaded for other users). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#session !== undefined) closeQuietly(this.#mod.lib, this.#session);
    this.#session = undefined;
    this.#key = undefined;
  }

  toJSON(): { uri: string } {
    return { uri: this.uri };
  }
}

/**
 * openPkcs11AesKey opens the AES-256 KEK a `pkcs11:` URI names (module from module-path or CUSTODY_PKCS11_MODULE,
 * PIN from pin-source or CUSTODY_PKCS11_PIN). Throws ERR_PKCS11_* codes; ERR_PKCS11_KEK_TYPE for a key that is not
 * a sensitive, non-extractable AES-256 key.
 */
export async function openPkcs11AesKey(uri: string | Pkcs11Uri, o: Pkcs11Options): Promise<Pkcs11AesKey> {
  const parsed = typeof uri === 'string' ? parsePkcs11Uri(uri) : uri;
  const modulePath = modulePathFor(parsed, o.env);
  const pin = await readPin(parsed, o);
  const k = new Pkcs11AesKey(parsed, modulePath, pin);
  k.open();
  return k;
}

/** GeneratedAesKey is the key generatePkcs11AesKey made: its URI (token, object, id; no PIN source) and CKA_ID. */
export interface GeneratedAesKey {
  uri: string;
  id: Uint8Array;
}

/**
 * generatePkcs11AesKey makes an AES-256 KEK in the token (CKM_AES_KEY_GEN): CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE,
 * not CKA_EXTRACTABLE, encrypt and decrypt only. The URI names the token and the object (label); its id is used when
 * given, else a random 16-byte CKA_ID. An object with that label or id refuses it (ERR_PKCS11_KEY_EXISTS).
 */
export async function generatePkcs11AesKey(uriText: string | Pkcs11Uri, o: Pkcs11Options): Promise<GeneratedAesKey> {
  const uri = typeof uriText === 'string' ? parsePkcs11Uri(uriText) : uriText;
  if (uri.object === undefined) throw new FormatError('ERR_PKCS11_URI_INVALID', 'a new token KEK needs object=LABEL in the URI');
  if (uri.unknownPath.length > 0) throw new ConfigError('ERR_PKCS11_KEY_NOT_FOUND', `the URI has path attributes this version does not understand (${uri.unknownPath.join(', ')})`);
  if (uri.type !== undefined && uri.type !== 'secret-key') throw kekType(`a KEK is a secret key; the URI says type=${uri.type}`);
  const modulePath = modulePathFor(uri, o.env);
  const pin = await readPin(uri, o);
  const { lib } = loadModule(modulePath);
  try {
    initialize(lib);
  } catch (e) {
    throw tokenFailed('cannot initialize the PKCS#11 module', e);
  }
  const slot = findSlot(lib, uri);
  const { session: s, label } = openTokenSession(lib, slot, true);
  try {
    if (pin === undefined) throw new ConfigError('ERR_PKCS11_PIN_REQUIRED', `token ${JSON.stringify(label)} needs its user PIN to make a key and none was given`);
    loginOnce(lib, s, pin, label);
    const id = uri.id ?? randomBytes(16);
    const labelBuf = Buffer.from(uri.object, 'utf8');
    const clash = [...findObjects(lib, s, [{ type: CKA_LABEL, value: labelBuf }]), ...findObjects(lib, s, [{ type: CKA_ID, value: Buffer.from(id) }])];
    if (clash.length > 0) throw new IoError('ERR_PKCS11_KEY_EXISTS', `token ${JSON.stringify(label)} already holds an object labelled ${JSON.stringify(uri.object)} or with its id`);
    lib.C_GenerateKey(s, { mechanism: CKM_AES_KEY_GEN }, [
      { type: CKA_CLASS, value: CKO_SECRET_KEY },
      { type: CKA_KEY_TYPE, value: CKK_AES },
      { type: CKA_VALUE_LEN, value: AES_KEK_KEY_BYTES },
      { type: CKA_TOKEN, value: true },
      { type: CKA_PRIVATE, value: true },
      { type: CKA_LABEL, value: labelBuf },
      { type: CKA_ID, value: Buffer.from(id) },
      // Never leaves the token: not readable (SENSITIVE), not wrappable out (EXTRACTABLE false).
      { type: CKA_SENSITIVE, value: true },
      { type: CKA_EXTRACTABLE, value: false },
      // Encrypts and decrypts data keys, nothing else.
      { type: CKA_ENCRYPT, value: true },
      { type: CKA_DECRYPT, value: true },
      { type: CKA_WRAP, value: false },
      { type: CKA_UNWRAP, value: false },
      { type: CKA_SIGN, value: false },
      { type: CKA_VERIFY, value: false },
      { type: CKA_DERIVE, value: false },
    ]);
    return { uri: formatPkcs11Uri({ token: uri.token ?? label, object: uri.object, id }), id };
  } catch (e) {
    if (isTrustError(e)) throw e;
    throw tokenFailed('the token failed to make the AES key', e);
  } finally {
    closeQuietly(lib, s);
  }
}
