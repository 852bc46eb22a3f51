/**
 * secrets/token-kek — a key-encryption key held in a PKCS#11 token (hsm/aes-key: AES-256, CKM_AES_GCM), behind the
 * same {@link KeyEncryptionKey} interface as the keyring's software KEKs (NIST SP 800-57 Part 1 §5.3.4). The keyring
 * (secrets/keyring) records where the key is — its `pkcs11:` URI (token, object, id), the absolute PIN file and
 * module path when they were given — never key material: the KEK stays in the token, and each data key is wrapped
 * and unwrapped by C_Encrypt / C_Decrypt inside it, with the associated data of secrets/format wrapAad.
 *
 * The token is opened on first use, not when the keyring is opened: listing a store, or reading secrets wrapped by
 * another KEK, needs neither the token nor its PIN.
 */
import { DATA_KEY_BYTES } from '../crypto/index.ts';
import { VerificationError, isTrustError } from '../errors.ts';
import { openPkcs11AesKey, type Pkcs11AesKey } from '../hsm/aes-key.ts';
import type { Pkcs11Options } from '../hsm/pkcs11.ts';
import { parsePkcs11Uri, type Pkcs11Uri } from '../hsm/uri.ts';
import type { KeyEncryptionKey } from './kek.ts';

/** TokenKekRef is what the keyring stores about a token KEK. */
export interface TokenKekRef {
  /** uri: path attributes only (token, object, id), as generatePkcs11AesKey returns it. */
  uri: string;
  /** pinSource: absolute PIN file, else CUSTODY_PKCS11_PIN at use time. */
  pinSource?: string | undefined;
  /** modulePath: absolute module path, else CUSTODY_PKCS11_MODULE at use time. */
  modulePath?: string | undefined;
}

/** TokenKek wraps data keys inside a token (module doc). */
export class TokenKek implements KeyEncryptionKey {
  readonly id: string;
  readonly ref: TokenKekRef;
  readonly #o: Pkcs11Options;
  #key: Promise<Pkcs11AesKey> | undefined;
  /** #pinRefused: the token refused (or locked) our PIN once; it is never presented again (lockout counters). */
  #pinRefused: Error | undefined;

  constructor(id: string, ref: TokenKekRef, o: Pkcs11Options) {
    this.id = id;
    this.ref = { uri: ref.uri, pinSource: ref.pinSource, modulePath: ref.modulePath };
    this.#o = o;
  }

  /** parsedUri is the stored URI with its PIN source and module path. */
  parsedUri(): Pkcs11Uri {
    const u = parsePkcs11Uri(this.ref.uri);
    return { ...u, ...(this.ref.pinSource === undefined ? {} : { pinSource: this.ref.pinSource }), ...(this.ref.modulePath === undefined ? {} : { modulePath: this.ref.modulePath }) };
  }

  #open(): Promise<Pkcs11AesKey> {
    if (this.#pinRefused !== undefined) return Promise.reject(this.#pinRefused);
    // A failed open is not cached (a token plugged in later is found), except a refused or locked PIN: every retry
    // would count toward the token's lockout, so this KEK never logs in again.
    this.#key ??= openPkcs11AesKey(this.parsedUri(), this.#o).catch((e: unknown) => {
      this.#key = undefined;
      if (isTrustError(e) && (e.code === 'ERR_PKCS11_PIN_INCORRECT' || e.code === 'ERR_PKCS11_PIN_LOCKED')) this.#pinRefused = e;
      throw e;
    });
    return this.#key;
  }

  async wrap(dataKey: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
    if (dataKey.length !== DATA_KEY_BYTES) throw new RangeError(`expected a ${DATA_KEY_BYTES}-byte data key, got ${dataKey.length}`);
    return (await this.#open()).encrypt(dataKey, aad);
  }

  async unwrap(wrapped: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
    const key = await this.#open();
    const dk = key.decrypt(wrapped, aad);
    if (dk === undefined || dk.length !== DATA_KEY_BYTES) {
      dk?.fill(0);
      throw new VerificationError('ERR_SECRETS_DECRYPT', `the data key wrapped by ${this.id} (in the token) does not authenticate`);
    }
    return dk;
  }

  /** destroyInToken destroys the key object in the token (retiring the KEK). */
  async destroyInToken(): Promise<void> {
    (await this.#open()).destroyObject();
    this.#key = undefined;
  }

  /** close ends the token session, if one was opened. */
  close(): void {
    const k = this.#key;
    this.#key = undefined;
    void k?.then((x) => x.close()).catch(() => undefined);
  }
}
