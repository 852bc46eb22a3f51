/**
 * crypto/signer — the one-method extension point for signing (like sigstore-js `Signer` and age's `Identity`).
 * A PrivateKey is a Signer; an HSM-backed key (PKCS#11) will be another. Signers produce pure Ed25519 signatures.
 */
import type { PublicKey } from './ed25519.ts';

export interface Signer {
  /** publicKey identifies the signer; verifiers look it up in a trust root. */
  readonly publicKey: PublicKey;
  /** sign returns the 64-byte Ed25519 signature of message. */
  sign(message: Uint8Array): Uint8Array;
}
