/**
 * crypto/sealed-key — private keys encrypted at rest with scrypt (RFC 7914) and AES-256-GCM (NIST SP 800-38D).
 *
 * PEM label `CUSTODY ENCRYPTED PRIVATE KEY`; the base64 body is, byte for byte:
 *
 *   0   4  magic "CSK1"
 *   4   1  log2(N) of scrypt       (SEALED_KEY_MIN_LOG2N..SEALED_KEY_MAX_LOG2N)
 *   5   1  r of scrypt             (1..16)
 *   6   1  p of scrypt             (1..4)
 *   7  16  salt
 *  23  12  AES-GCM nonce
 *  35   …  AES-256-GCM ciphertext of the PKCS#8 DER private key, then the 16-byte tag
 *
 * The 35 header bytes are the GCM additional data, so the cost parameters cannot be lowered without detection.
 * Why not OpenSSL's "ENCRYPTED PRIVATE KEY" (PBES2)? Node can only write it with PBKDF2 at 2,048 iterations; we read
 * that format too (crypto/ed25519 `privateKeyFromPem`) for keys made with `openssl pkcs8 -topk8`.
 * A future version may add a new magic; readers refuse magics they do not know.
 */
import { scryptSync } from 'node:crypto';
import { ConfigError, FormatError, LimitError } from '../errors.ts';
import { AES_GCM_NONCE_BYTES, AES_GCM_TAG_BYTES, aes256GcmOpen, aes256GcmSeal } from './aead.ts';
import { randomBytes } from './hash.ts';

export const SEALED_KEY_PEM_LABEL = 'CUSTODY ENCRYPTED PRIVATE KEY';
const MAGIC = Buffer.from('CSK1', 'latin1');
const HEADER_BYTES = 35;
const TAG_BYTES = AES_GCM_TAG_BYTES;
/** SEALED_KEY_DEFAULT_LOG2N: N = 2^16 with r = 8 uses 64 MiB and ~0.1–0.2 s per open on this class of machine. */
export const SEALED_KEY_DEFAULT_LOG2N = 16;
export const SEALED_KEY_MIN_LOG2N = 10;
/** SEALED_KEY_MAX_LOG2N caps the work an attacker-supplied file can demand (2^20 × r 8 = 1 GiB). */
export const SEALED_KEY_MAX_LOG2N = 20;
/** SEALED_KEY_SCRYPT_R and _P are scrypt's block size and parallelism: fixed, written and required as 8 and 1. */
export const SEALED_KEY_SCRYPT_R = 8;
export const SEALED_KEY_SCRYPT_P = 1;
/** SEALED_KEY_MAX_BYTES caps the sealed body; a PKCS#8 Ed25519 key is 48 bytes. */
const SEALED_KEY_MAX_BYTES = 4096;

export interface SealOptions {
  /** log2N is scrypt's cost; tests may lower it to SEALED_KEY_MIN_LOG2N. */
  log2N?: number;
}

/**
 * deriveScryptKey derives a 32-byte key from a passphrase with scrypt (RFC 7914), r 8 and p 1 (the values Custody
 * writes); the keyring (secrets/keyring) uses it with its own header. log2N must be within the sealed-key range.
 */
export function deriveScryptKey(passphrase: Uint8Array, salt: Uint8Array, log2N: number): Uint8Array {
  if (!Number.isInteger(log2N) || log2N < SEALED_KEY_MIN_LOG2N || log2N > SEALED_KEY_MAX_LOG2N) throw new RangeError(`log2N out of range: ${log2N}`);
  return new Uint8Array(deriveKey(passphrase, salt, log2N, SEALED_KEY_SCRYPT_R, SEALED_KEY_SCRYPT_P));
}

function deriveKey(passphrase: Uint8Array, salt: Uint8Array, log2N: number, r: number, p: number): Buffer {
  const N = 2 ** log2N;
  return scryptSync(passphrase, salt, 32, { N, r, p, maxmem: 256 * N * r + 1024 * 1024 });
}

/** sealPrivateKey encrypts a PKCS#8 DER key under passphrase and returns the PEM text. */
export function sealPrivateKey(pkcs8Der: Uint8Array, passphrase: Uint8Array, options: SealOptions = {}): string {
  const log2N = options.log2N ?? SEALED_KEY_DEFAULT_LOG2N;
  if (!Number.isInteger(log2N) || log2N < SEALED_KEY_MIN_LOG2N || log2N > SEALED_KEY_MAX_LOG2N) {
    throw new RangeError(`log2N out of range: ${log2N}`);
  }
  const r = SEALED_KEY_SCRYPT_R;
  const p = SEALED_KEY_SCRYPT_P;
  const salt = randomBytes(16);
  const nonce = randomBytes(AES_GCM_NONCE_BYTES);
  const header = Buffer.concat([MAGIC, Buffer.from([log2N, r, p]), salt, nonce]);
  const key = deriveKey(passphrase, salt, log2N, r, p);
  const body = Buffer.concat([header, aes256GcmSeal(key, nonce, pkcs8Der, header)]);
  key.fill(0);
  const b64 = body.toString('base64').replace(/.{1,64}/g, '$&\n');
  return `-----BEGIN ${SEALED_KEY_PEM_LABEL}-----\n${b64}-----END ${SEALED_KEY_PEM_LABEL}-----\n`;
}

/** isSealedKeyPem tells whether the PEM text carries Custody's sealed label. */
export function isSealedKeyPem(pem: string): boolean {
  return pem.includes(`-----BEGIN ${SEALED_KEY_PEM_LABEL}-----`);
}

/**
 * OpenSealedKeyOptions: maxLog2N caps the scrypt cost a sealed key may ask for, checked before any derivation
 * (ERR_LIMIT_KDF_COST). The file names its own cost, up to SEALED_KEY_MAX_LOG2N (2^20: 1 GiB and seconds of CPU);
 * the default accepts the whole range, since a sealed key is its owner's own file. A caller reading keys it trusts
 * less (the fuzz target: every input is hostile) sets the cap, as age caps an scrypt identity's work factor.
 */
export interface OpenSealedKeyOptions {
  maxLog2N?: number | undefined;
}

/**
 * openSealedKey decrypts a sealed PEM and returns the PKCS#8 DER.
 * Throws ERR_CONFIG_PASSPHRASE_WRONG when the tag does not verify (wrong passphrase or altered file).
 */
export function openSealedKey(pem: string, passphrase: Uint8Array, options: OpenSealedKeyOptions = {}): Buffer {
  const m = new RegExp(`-----BEGIN ${SEALED_KEY_PEM_LABEL}-----\\n([A-Za-z0-9+/=\\n]+)-----END ${SEALED_KEY_PEM_LABEL}-----`).exec(
    pem,
  );
  if (!m?.[1]) throw new FormatError('ERR_KEY_INVALID', 'malformed sealed key PEM');
  const body = Buffer.from(m[1].replace(/\n/g, ''), 'base64');
  if (body.length > SEALED_KEY_MAX_BYTES) throw new LimitError('ERR_LIMIT_SIZE', 'sealed key is too large');
  if (body.length < HEADER_BYTES + TAG_BYTES + 1 || !body.subarray(0, 4).equals(MAGIC)) {
    throw new FormatError('ERR_KEY_INVALID', 'sealed key has an unknown magic or is truncated');
  }
  const log2N = body[4]!;
  const r = body[5]!;
  const p = body[6]!;
  // The header is attacker-controlled and read before anything is authenticated: r and p must be the values the
  // writer uses. Accepting r ≤ 16 and p ≤ 4 let a hostile file demand 8× the memory and 32× the time of the
  // costliest key we write (log2N 20, r 16, p 4: 2 GiB for about a minute; found while fuzzing, issue 16).
  if (log2N < SEALED_KEY_MIN_LOG2N || log2N > SEALED_KEY_MAX_LOG2N || r !== SEALED_KEY_SCRYPT_R || p !== SEALED_KEY_SCRYPT_P) {
    throw new FormatError('ERR_KEY_INVALID', `sealed key has out-of-range scrypt parameters (log2N ${log2N}, r ${r}, p ${p})`);
  }
  if (options.maxLog2N !== undefined && log2N > options.maxLog2N) {
    throw new LimitError('ERR_LIMIT_KDF_COST', `sealed key asks for scrypt at cost 2^${log2N}, over the 2^${options.maxLog2N} this caller accepts`);
  }
  const header = body.subarray(0, HEADER_BYTES);
  const salt = body.subarray(7, 23);
  const nonce = body.subarray(23, 35);
  const key = deriveKey(passphrase, salt, log2N, r, p);
  const der = aes256GcmOpen(key, nonce, body.subarray(HEADER_BYTES), header);
  key.fill(0);
  if (der === undefined) {
    throw new ConfigError('ERR_CONFIG_PASSPHRASE_WRONG', 'cannot open the encrypted key: wrong passphrase or altered file');
  }
  return Buffer.from(der.buffer, der.byteOffset, der.byteLength);
}
