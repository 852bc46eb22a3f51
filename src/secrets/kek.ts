/**
 * secrets/kek — key-encryption keys (KEKs): what wraps a secret's data key (NIST SP 800-57 Part 1 §5.3.4,
 * "key-wrapping key"). One interface, so a KEK held in a PKCS#11 token (CKM_AES_GCM or CKM_AES_KEY_WRAP_KWP) can
 * stand beside the passphrase-sealed keyring's software KEKs.
 *
 * Duties of an implementation:
 * - `wrap` binds `aad` (secrets/format wrapAad: name, version, data key id, KEK id) and returns opaque bytes
 *   (at most WRAPPED_KEY_MAX_BYTES) that only `unwrap` of the same KEK with the same aad opens;
 * - `unwrap` throws ERR_SECRETS_DECRYPT (VerificationError) when the bytes or aad were altered, and never returns
 *   unauthenticated key material;
 * - neither copies the data key anywhere it outlives the call; the caller zeroes what it gets back.
 */
import { AES_256_GCM_KEY_BYTES, AES_GCM_NONCE_BYTES, DATA_KEY_BYTES, openWithKey, sealWithKey } from '../crypto/index.ts';
import { VerificationError } from '../errors.ts';

/** KeyEncryptionKey wraps and unwraps data keys. */
export interface KeyEncryptionKey {
  /** id names the KEK in secret files (secrets/format KEK_ID_RE). */
  readonly id: string;
  /** wrap encrypts a 32-byte data key, authenticating aad. */
  wrap(dataKey: Uint8Array, aad: Uint8Array): Promise<Uint8Array>;
  /** unwrap returns the data key, or throws ERR_SECRETS_DECRYPT. */
  unwrap(wrapped: Uint8Array, aad: Uint8Array): Promise<Uint8Array>;
}

/**
 * AesGcmKek is a software KEK: AES-256-GCM with a random nonce per wrap; wrapped = nonce (12) || ciphertext (32) ||
 * tag (16). The keyring (secrets/keyring) holds its key bytes; `destroy` zeroes them.
 */
export class AesGcmKek implements KeyEncryptionKey {
  readonly id: string;
  readonly #key: Uint8Array;

  constructor(id: string, key: Uint8Array) {
    if (key.length !== AES_256_GCM_KEY_BYTES) throw new RangeError(`expected a ${AES_256_GCM_KEY_BYTES}-byte KEK, got ${key.length}`);
    this.id = id;
    this.#key = new Uint8Array(key);
  }

  wrap(dataKey: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
    if (dataKey.length !== DATA_KEY_BYTES) throw new RangeError(`expected a ${DATA_KEY_BYTES}-byte data key, got ${dataKey.length}`);
    const box = sealWithKey(this.#key, dataKey, aad);
    const out = new Uint8Array(box.nonce.length + box.ciphertext.length);
    out.set(box.nonce, 0);
    out.set(box.ciphertext, box.nonce.length);
    return Promise.resolve(out);
  }

  unwrap(wrapped: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
    const dk =
      wrapped.length === AES_GCM_NONCE_BYTES + DATA_KEY_BYTES + 16
        ? openWithKey(this.#key, { nonce: wrapped.subarray(0, AES_GCM_NONCE_BYTES), ciphertext: wrapped.subarray(AES_GCM_NONCE_BYTES) }, aad)
        : undefined;
    if (dk === undefined || dk.length !== DATA_KEY_BYTES) {
      dk?.fill(0);
      return Promise.reject(new VerificationError('ERR_SECRETS_DECRYPT', `the data key wrapped by ${this.id} does not authenticate`));
    }
    return Promise.resolve(dk);
  }

  /** keyBytes is a copy of the key (for sealing the keyring); the caller zeroes it. */
  keyBytes(): Uint8Array {
    return new Uint8Array(this.#key);
  }

  /** destroy zeroes the key. */
  destroy(): void {
    this.#key.fill(0);
  }
}
