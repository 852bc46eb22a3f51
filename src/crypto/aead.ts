/**
 * crypto/aead — AES-256-GCM (NIST SP 800-38D) with the one shape Custody uses: a 32-byte key, a 12-byte (96-bit)
 * nonce and a 16-byte (128-bit) tag appended to the ciphertext. Sealed private keys (crypto/sealed-key) are its user;
 * test/crypto/aead.test.ts pins it with the Wycheproof AES-GCM vectors.
 *
 * Contract (as for the other crypto/ primitives): arguments of the wrong length are a programming error and throw a
 * RangeError; `aes256GcmOpen` returns undefined when the tag does not authenticate the ciphertext and additional
 * data (a wrong key, or altered bytes), and never releases plaintext that failed authentication.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';

/** AES_256_GCM_KEY_BYTES, AES_GCM_NONCE_BYTES and AES_GCM_TAG_BYTES fix the shape (256-bit key, 96-bit nonce, 128-bit tag). */
export const AES_256_GCM_KEY_BYTES = 32;
export const AES_GCM_NONCE_BYTES = 12;
export const AES_GCM_TAG_BYTES = 16;

function checkShape(key: Uint8Array, nonce: Uint8Array): void {
  if (key.length !== AES_256_GCM_KEY_BYTES) throw new RangeError(`expected a ${AES_256_GCM_KEY_BYTES}-byte AES-256 key, got ${key.length} bytes`);
  if (nonce.length !== AES_GCM_NONCE_BYTES) throw new RangeError(`expected a ${AES_GCM_NONCE_BYTES}-byte GCM nonce, got ${nonce.length} bytes`);
}

/** aes256GcmSeal encrypts plaintext and returns ciphertext || 16-byte tag, authenticating aad too. */
export function aes256GcmSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
  checkShape(key, nonce);
  const c = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: AES_GCM_TAG_BYTES });
  c.setAAD(aad);
  return new Uint8Array(Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()]));
}

/** aes256GcmOpen decrypts ciphertext || tag and returns the plaintext, or undefined when the tag does not verify. */
export function aes256GcmOpen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array | undefined {
  checkShape(key, nonce);
  if (sealed.length < AES_GCM_TAG_BYTES) throw new RangeError(`expected at least the ${AES_GCM_TAG_BYTES}-byte tag, got ${sealed.length} bytes`);
  const d = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: AES_GCM_TAG_BYTES });
  d.setAAD(aad);
  d.setAuthTag(sealed.subarray(sealed.length - AES_GCM_TAG_BYTES));
  const head = d.update(sealed.subarray(0, sealed.length - AES_GCM_TAG_BYTES));
  try {
    return new Uint8Array(Buffer.concat([head, d.final()]));
  } catch {
    head.fill(0);
    return undefined;
  }
}
