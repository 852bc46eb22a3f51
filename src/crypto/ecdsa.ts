/**
 * crypto/ecdsa — ECDSA over NIST P-256 with SHA-256 (FIPS 186-5, SEC 1), verification only.
 *
 * Custody signs with Ed25519; P-256 is here to READ what the field writes: cosign `--key` signatures and Sigstore
 * bundles (ECDSA_P256_SHA256, ASN.1 DER signatures) and the DSSE specification's own test vector (raw r‖s, IEEE
 * P1363). OpenSSL does the arithmetic; this module only fixes the curve and hash so a caller cannot be talked into
 * another one by the key or the signature.
 */
import { createPublicKey, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { FormatError } from '../errors.ts';

/** EcdsaSignatureEncoding: ASN.1 DER (X.509, cosign, Sigstore) or the raw 64-byte r‖s (IEEE P1363, JOSE, DSSE vector). */
export type EcdsaSignatureEncoding = 'der' | 'p1363';

/** P256PublicKey is an ECDSA public key on prime256v1 (secp256r1). */
export class P256PublicKey {
  readonly keyObject: KeyObject;

  private constructor(ko: KeyObject) {
    this.keyObject = ko;
  }

  private static wrap(ko: KeyObject): P256PublicKey {
    if (ko.asymmetricKeyType !== 'ec' || ko.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
      throw new FormatError('ERR_KEY_UNSUPPORTED', `expected an ECDSA P-256 key, got ${ko.asymmetricKeyType ?? 'a secret key'}`);
    }
    return new P256PublicKey(ko);
  }

  /** fromPem parses an SPKI PEM ("PUBLIC KEY"), as `cosign generate-key-pair` writes cosign.pub. */
  static fromPem(pem: string): P256PublicKey {
    let ko: KeyObject;
    try {
      ko = createPublicKey({ key: pem, format: 'pem' });
    } catch (e) {
      throw new FormatError('ERR_KEY_INVALID', 'the text is not a PEM public key', { cause: e });
    }
    return P256PublicKey.wrap(ko);
  }

  /** fromSpkiDer parses a DER SubjectPublicKeyInfo (Sigstore's `PublicKey.rawBytes`). */
  static fromSpkiDer(der: Uint8Array): P256PublicKey {
    let ko: KeyObject;
    try {
      ko = createPublicKey({ key: Buffer.from(der), format: 'der', type: 'spki' });
    } catch (e) {
      throw new FormatError('ERR_KEY_INVALID', 'the bytes are not a DER public key', { cause: e });
    }
    return P256PublicKey.wrap(ko);
  }

  /** fromCoordinates builds a key from its affine coordinates, 32 big-endian bytes each. */
  static fromCoordinates(x: Uint8Array, y: Uint8Array): P256PublicKey {
    if (x.length !== 32 || y.length !== 32) throw new FormatError('ERR_KEY_INVALID', 'P-256 coordinates are 32 bytes each');
    let ko: KeyObject;
    try {
      const b64u = (b: Uint8Array): string => Buffer.from(b).toString('base64url');
      ko = createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: b64u(x), y: b64u(y) }, format: 'jwk' });
    } catch (e) {
      throw new FormatError('ERR_KEY_INVALID', 'the coordinates are not a point on P-256', { cause: e });
    }
    return P256PublicKey.wrap(ko);
  }

  /** spkiDer is the DER SubjectPublicKeyInfo. */
  get spkiDer(): Uint8Array {
    return new Uint8Array(this.keyObject.export({ format: 'der', type: 'spki' }));
  }

  /** toPem renders the SPKI PEM. */
  toPem(): string {
    return this.keyObject.export({ format: 'pem', type: 'spki' }).toString();
  }
}

/** verifyP256 checks an ECDSA-P256-SHA256 signature over message; false for any malformed or wrong signature. */
export function verifyP256(key: P256PublicKey, message: Uint8Array, signature: Uint8Array, encoding: EcdsaSignatureEncoding = 'der'): boolean {
  try {
    return nodeVerify('sha256', message, { key: key.keyObject, dsaEncoding: encoding === 'der' ? 'der' : 'ieee-p1363' }, signature);
  } catch {
    return false;
  }
}
