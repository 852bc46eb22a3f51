/**
 * crypto/webcrypto — Node's W3C Web Cryptography API (`crypto.webcrypto`) for libraries that take a WebCrypto
 * provider (@peculiar/x509 for the keyless certificates, auth/keyless-ca), and the conversions between Custody's
 * Ed25519 keys and WebCrypto `CryptoKey`s (RFC 8410 SPKI / PKCS#8 DER, the same bytes as ed25519.ts reads).
 *
 * Only this folder imports node:crypto; everything else that needs WebCrypto gets it from here.
 */
import { createPublicKey, webcrypto as nodeWebcrypto } from 'node:crypto';
import type { webcrypto as W } from 'node:crypto';
import { FormatError } from '../errors.ts';
import { PublicKey, type PrivateKey } from './ed25519.ts';

/** ED25519_WEBCRYPTO is the WebCrypto algorithm of Custody's keys (RFC 8032 pure Ed25519). */
export const ED25519_WEBCRYPTO = { name: 'Ed25519' } as const;

/** WebCrypto and WebCryptoKey are the W3C types (this project compiles without the DOM library). */
export type WebCrypto = W.Crypto;
export type WebCryptoKey = W.CryptoKey;

/** webcrypto returns Node's WebCrypto implementation (the global `crypto` of browsers). */
export function webcrypto(): WebCrypto {
  return nodeWebcrypto;
}

/** toWebCryptoPrivateKey imports an Ed25519 private key for signing (not extractable). */
export function toWebCryptoPrivateKey(key: PrivateKey): Promise<WebCryptoKey> {
  return webcrypto().subtle.importKey('pkcs8', key.toPkcs8Der(), ED25519_WEBCRYPTO, false, ['sign']);
}

/** toWebCryptoPublicKey imports an Ed25519 public key for verification. */
export function toWebCryptoPublicKey(key: PublicKey): Promise<WebCryptoKey> {
  return webcrypto().subtle.importKey('spki', key.keyObject.export({ format: 'der', type: 'spki' }), ED25519_WEBCRYPTO, true, ['verify']);
}

/**
 * publicKeyFromSpki reads an Ed25519 SubjectPublicKeyInfo (DER); throws ERR_KEY_INVALID when the bytes are not a
 * key and ERR_KEY_UNSUPPORTED for another algorithm.
 */
export function publicKeyFromSpki(der: Uint8Array): PublicKey {
  let ko;
  try {
    ko = createPublicKey({ key: Buffer.from(der), format: 'der', type: 'spki' });
  } catch (e) {
    throw new FormatError('ERR_KEY_INVALID', 'the bytes are not a DER public key', { cause: e });
  }
  return PublicKey.fromKeyObject(ko);
}
