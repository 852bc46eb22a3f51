/**
 * crypto/ed25519 — Ed25519 (RFC 8032 §5.1, pure Ed25519, no prehash) over Node's `crypto` (OpenSSL 3).
 *
 * Acceptance rule we promise (ED25519_ACCEPTANCE_RULE): OpenSSL 3's RFC 8032 verification — the encoded S must be
 * canonical (S < L, so signatures are not malleable), the public key A and R must be canonical point encodings that
 * decode on the curve, and the cofactorless equation [S]B = R + [k]A must hold. This is stricter than ZIP-215.
 * The Wycheproof `ed25519_test.json` suite and RFC 8032 §7.1 vectors pin it (test/crypto/ed25519.test.ts).
 *
 * Contract (noble style): malformed input — a public key that is not 32 bytes, a signature that is not 64 bytes —
 * throws a FormatError; `verify` returns `false` for a well-formed but invalid signature.
 *
 * Only this directory imports `node:crypto` (enforced by eslint.config.js).
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign as nodeSign,
  verify as nodeVerify,
  type KeyObject,
} from 'node:crypto';
import { FormatError } from '../errors.ts';
import { sha256 } from './hash.ts';

/** ED25519_ACCEPTANCE_RULE names the verification rule in reports and docs. */
export const ED25519_ACCEPTANCE_RULE = 'rfc8032-strict-openssl3';

export const ED25519_PUBLIC_KEY_BYTES = 32;
export const ED25519_SEED_BYTES = 32;
export const ED25519_SIGNATURE_BYTES = 64;

// RFC 8410 DER prefixes: SPKI = SEQ{ SEQ{ OID 1.3.101.112 }, BIT STRING(0 unused) || key }.
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
// PKCS#8 v1 = SEQ{ INT 0, SEQ{ OID 1.3.101.112 }, OCTET STRING{ OCTET STRING(seed) } }.
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** PublicKey is an Ed25519 public key with its cached KeyObject and identifiers. */
export class PublicKey {
  /** raw is the 32-byte RFC 8032 encoding of A. */
  readonly raw: Uint8Array;
  /** keyObject is cached: parsing a key per verification costs half the throughput. */
  readonly keyObject: KeyObject;
  #hex: string | undefined;

  private constructor(raw: Uint8Array, keyObject: KeyObject) {
    this.raw = raw;
    this.keyObject = keyObject;
  }

  /** fromRaw builds a key from its 32-byte encoding; throws ERR_KEY_INVALID for another length or a non-point. */
  static fromRaw(raw: Uint8Array): PublicKey {
    if (raw.length !== ED25519_PUBLIC_KEY_BYTES) {
      throw new FormatError('ERR_KEY_INVALID', `expected a 32-byte ed25519 public key, got ${raw.length} bytes`);
    }
    let ko: KeyObject;
    try {
      ko = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
    } catch (e) {
      throw new FormatError('ERR_KEY_INVALID', 'the bytes are not an ed25519 public key', { cause: e });
    }
    return new PublicKey(Uint8Array.from(raw), ko);
  }

  /** fromKeyObject wraps a Node public KeyObject; throws ERR_KEY_UNSUPPORTED for non-Ed25519 keys. */
  static fromKeyObject(ko: KeyObject): PublicKey {
    if (ko.asymmetricKeyType !== 'ed25519') {
      throw new FormatError('ERR_KEY_UNSUPPORTED', `expected an ed25519 key, got ${ko.asymmetricKeyType ?? 'a secret key'}`);
    }
    const der = ko.export({ format: 'der', type: 'spki' });
    return new PublicKey(Uint8Array.from(der.subarray(SPKI_PREFIX.length)), ko);
  }

  /** fromPem parses an SPKI PEM ("PUBLIC KEY"). */
  static fromPem(pem: string): PublicKey {
    let ko: KeyObject;
    try {
      ko = createPublicKey({ key: pem, format: 'pem' });
    } catch (e) {
      throw new FormatError('ERR_KEY_INVALID', 'the text is not a PEM public key', { cause: e });
    }
    return PublicKey.fromKeyObject(ko);
  }

  /** toPem renders the SPKI PEM. */
  toPem(): string {
    return this.keyObject.export({ format: 'pem', type: 'spki' }).toString();
  }

  /** hex is the lowercase hex of the raw key. */
  get hex(): string {
    // Computed once: thresholds ask for it per signature counted (the key is immutable).
    return (this.#hex ??= Buffer.from(this.raw.buffer, this.raw.byteOffset, this.raw.byteLength).toString('hex'));
  }

  /** fingerprint is an SSH-style display form: "SHA256:" + unpadded base64 of SHA-256(raw). */
  get fingerprint(): string {
    return 'SHA256:' + Buffer.from(sha256(this.raw)).toString('base64').replace(/=+$/, '');
  }

  /** equals compares raw encodings. */
  equals(other: PublicKey): boolean {
    return Buffer.from(this.raw).equals(other.raw);
  }
}

/** PrivateKey is an Ed25519 signing key. Its seed is never logged or rendered except by explicit export. */
export class PrivateKey {
  readonly keyObject: KeyObject;
  readonly publicKey: PublicKey;

  private constructor(ko: KeyObject) {
    this.keyObject = ko;
    this.publicKey = PublicKey.fromKeyObject(createPublicKey(ko));
  }

  /** generate makes a fresh random key with OpenSSL's CSPRNG. */
  static generate(): PrivateKey {
    return new PrivateKey(generateKeyPairSync('ed25519').privateKey);
  }

  /** fromSeed builds the key whose RFC 8032 secret is the 32-byte seed. */
  static fromSeed(seed: Uint8Array): PrivateKey {
    if (seed.length !== ED25519_SEED_BYTES) {
      throw new FormatError('ERR_KEY_INVALID', `expected a 32-byte ed25519 seed, got ${seed.length} bytes`);
    }
    return new PrivateKey(createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' }));
  }

  /** fromKeyObject wraps a Node private KeyObject. */
  static fromKeyObject(ko: KeyObject): PrivateKey {
    if (ko.type !== 'private' || ko.asymmetricKeyType !== 'ed25519') {
      throw new FormatError('ERR_KEY_UNSUPPORTED', 'expected an ed25519 private key');
    }
    return new PrivateKey(ko);
  }

  /** toPkcs8Der exports the unencrypted PKCS#8 DER (callers must keep it secret). */
  toPkcs8Der(): Buffer {
    return this.keyObject.export({ format: 'der', type: 'pkcs8' });
  }

  /** toPem exports the unencrypted PKCS#8 PEM ("PRIVATE KEY"). */
  toPem(): string {
    return this.keyObject.export({ format: 'pem', type: 'pkcs8' }).toString();
  }

  /** sign returns the 64-byte Ed25519 signature of message. */
  sign(message: Uint8Array): Uint8Array {
    return new Uint8Array(nodeSign(null, message, this.keyObject));
  }

  /** Keep key material out of console.log and JSON.stringify. */
  toJSON(): { publicKey: string } {
    return { publicKey: this.publicKey.hex };
  }
}

/**
 * verifyEd25519 checks signature over message under key with {@link ED25519_ACCEPTANCE_RULE}.
 * Throws FormatError when the signature is not 64 bytes; returns false when it is well-formed but invalid.
 */
export function verifyEd25519(key: PublicKey, message: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== ED25519_SIGNATURE_BYTES) {
    throw new FormatError('ERR_KEY_SIGNATURE_LENGTH', `expected a 64-byte signature, got ${signature.length} bytes`);
  }
  try {
    return nodeVerify(null, message, key.keyObject, signature);
  } catch {
    // OpenSSL reports some malformed encodings as errors rather than `false`; both mean "does not verify".
    return false;
  }
}

/** privateKeyFromPkcs8Der parses an unencrypted PKCS#8 DER private key. */
export function privateKeyFromDer(der: Uint8Array): PrivateKey {
  let ko: KeyObject;
  try {
    ko = createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' });
  } catch (e) {
    throw new FormatError('ERR_KEY_INVALID', 'the bytes are not a PKCS#8 private key', { cause: e });
  }
  return PrivateKey.fromKeyObject(ko);
}

/**
 * privateKeyFromPem parses a PKCS#8 PEM; `passphrase` opens a standard "ENCRYPTED PRIVATE KEY" (PBES2) made by
 * OpenSSL. Custody's own sealed format is handled by crypto/sealed-key.
 */
export function privateKeyFromPem(pem: string, passphrase?: Uint8Array): PrivateKey {
  let ko: KeyObject;
  try {
    ko = createPrivateKey(
      passphrase === undefined ? { key: pem, format: 'pem' } : { key: pem, format: 'pem', passphrase: Buffer.from(passphrase) },
    );
  } catch (e) {
    throw new FormatError('ERR_KEY_INVALID', 'the text is not a usable PEM private key', { cause: e });
  }
  return PrivateKey.fromKeyObject(ko);
}
