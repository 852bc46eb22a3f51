/**
 * crypto — the only module that touches `node:crypto` (enforced by eslint.config.js): Ed25519, SHA-2, BLAKE3, scrypt + AES-GCM.
 */
export {
  ED25519_ACCEPTANCE_RULE,
  ED25519_PUBLIC_KEY_BYTES,
  ED25519_SEED_BYTES,
  ED25519_SIGNATURE_BYTES,
  PrivateKey,
  PublicKey,
  privateKeyFromDer,
  privateKeyFromPem,
  verifyEd25519,
} from './ed25519.ts';
export { Ed25519VerifyPool } from './ed25519-pool.ts';
export type { VerifyItem } from './ed25519-pool.ts';
export {
  HASH_DIGEST_BYTES,
  SUPPORTED_HASH_ALGORITHMS,
  constantTimeEqual,
  createDigest,
  digestHex,
  createMultiHasher,
  hmacSha256,
  isHashAlgorithm,
  randomBytes,
  sha256,
  sha256Concat,
} from './hash.ts';
export type { Digest, DigestAlgorithm, HashAlgorithm, MultiHasher } from './hash.ts';
export { P256PublicKey, verifyP256 } from './ecdsa.ts';
export type { EcdsaSignatureEncoding } from './ecdsa.ts';
export { AES_256_GCM_KEY_BYTES, AES_GCM_NONCE_BYTES, AES_GCM_TAG_BYTES, aes256GcmOpen, aes256GcmSeal } from './aead.ts';
export {
  SEALED_KEY_DEFAULT_LOG2N,
  SEALED_KEY_MAX_LOG2N,
  SEALED_KEY_MIN_LOG2N,
  SEALED_KEY_PEM_LABEL,
  deriveScryptKey,
  isSealedKeyPem,
  openSealedKey,
  sealPrivateKey,
} from './sealed-key.ts';
export { DATA_KEY_BYTES, generateDataKey, openWithKey, randomNonce, sealWithKey, zeroize } from './envelope.ts';
export type { SealedBox } from './envelope.ts';
export type { OpenSealedKeyOptions, SealOptions } from './sealed-key.ts';
export type { Signer } from './signer.ts';
export { ED25519_WEBCRYPTO, publicKeyFromSpki, toWebCryptoPrivateKey, toWebCryptoPublicKey, webcrypto } from './webcrypto.ts';
export type { WebCrypto, WebCryptoKey } from './webcrypto.ts';
