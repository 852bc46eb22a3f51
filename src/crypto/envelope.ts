/**
 * crypto/envelope — the primitives of envelope encryption (NIST SP 800-38D AES-256-GCM, as in crypto/aead; the
 * pattern of Google Tink's and AWS KMS's envelope encryption): fresh random 256-bit data keys, and sealing under a key
 * with a fresh random 96-bit nonce drawn here, never by the caller, so no code path can pass a nonce twice.
 *
 * Nonce budget (SP 800-38D §8.3): with random 96-bit nonces one key may seal at most 2^32 messages. A data key seals
 * exactly one payload (each `put` draws a new one); a key-encryption key wraps one data key per secret and per
 * rewrap, orders of magnitude below the bound for any store Custody manages.
 *
 * Contract as for crypto/aead: wrong key or nonce lengths are programming errors (RangeError); `openWithKey` returns
 * undefined when the tag does not verify and never releases unauthenticated plaintext.
 */
import { AES_256_GCM_KEY_BYTES, AES_GCM_NONCE_BYTES, AES_GCM_TAG_BYTES, aes256GcmOpen, aes256GcmSeal } from './aead.ts';
import { randomBytes } from './hash.ts';

/** DATA_KEY_BYTES: a data key is an AES-256 key (32 bytes). */
export const DATA_KEY_BYTES = AES_256_GCM_KEY_BYTES;

/** SealedBox is one AES-256-GCM encryption: the 12-byte nonce and ciphertext || 16-byte tag. */
export interface SealedBox {
  nonce: Uint8Array;
  ciphertext: Uint8Array;
}

/** generateDataKey returns a fresh random 256-bit key from the CSPRNG. The caller zeroes it after use ({@link zeroize}). */
export function generateDataKey(): Uint8Array {
  return randomBytes(DATA_KEY_BYTES);
}

/** randomNonce returns a fresh random 96-bit GCM nonce. */
export function randomNonce(): Uint8Array {
  return randomBytes(AES_GCM_NONCE_BYTES);
}

/** sealWithKey encrypts plaintext under key with a fresh random nonce, authenticating aad too. */
export function sealWithKey(key: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): SealedBox {
  const nonce = randomNonce();
  return { nonce, ciphertext: aes256GcmSeal(key, nonce, plaintext, aad) };
}

/** openWithKey decrypts a box, or returns undefined when the tag does not verify (wrong key, altered bytes or aad). */
export function openWithKey(key: Uint8Array, box: SealedBox, aad: Uint8Array): Uint8Array | undefined {
  if (box.nonce.length !== AES_GCM_NONCE_BYTES) return undefined;
  if (box.ciphertext.length < AES_GCM_TAG_BYTES) return undefined;
  return aes256GcmOpen(key, box.nonce, box.ciphertext, aad);
}

/** zeroize overwrites key material in place (best effort: copies the engine made are out of reach). */
export function zeroize(...buffers: Array<Uint8Array | undefined>): void {
  for (const b of buffers) b?.fill(0);
}
