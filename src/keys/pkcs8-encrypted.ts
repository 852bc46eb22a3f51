/**
 * keys/pkcs8-encrypted — bounds the key derivation an OpenSSL `-----BEGIN ENCRYPTED PRIVATE KEY-----` file asks for,
 * before OpenSSL runs it. The file is an EncryptedPrivateKeyInfo (RFC 5958 §3): its encryptionAlgorithm names the
 * scheme and carries its parameters, and nothing in the file is authenticated until the derivation has run.
 *
 * RFC 8018 puts no upper bound on a PBKDF2 iteration count, and RFC 7914 §7 none on scrypt's N, r and p, so a file
 * can demand any amount of work: 2^31−1 PBKDF2-HMAC-SHA256 iterations are about 17 minutes of CPU here (8,388,607
 * took 4.0 s), and scrypt's p multiplies its time without raising its memory. Read here:
 * - PBES2 (1.2.840.113549.1.5.13) with PBKDF2 (1.2.840.113549.1.5.12): iterationCount ≤ PKCS8_MAX_PBKDF2_ITERATIONS;
 * - PBES2 with scrypt (1.3.6.1.4.1.11591.4.11): N a power of two, N·r·p ≤ 2^20·8 and 128·N·r ≤ 1 GiB — the most a
 *   Custody sealed key may ask (crypto/sealed-key) — and N ≤ 2^maxLog2N when the caller caps sealed keys too;
 * - the PBES1 and PKCS#12 schemes (pkcs-5 1.2.840.113549.1.5.x, pkcs-12PbeIds 1.2.840.113549.1.12.1.x), whose
 *   parameters are `SEQUENCE { salt OCTET STRING, iterations INTEGER }`: iterations ≤ the same cap.
 * Over a bound: ERR_LIMIT_KDF_COST. Another scheme or KDF, parameters of another shape, or more than one PEM block
 * in the text (OpenSSL would take the first, this check must see the one it takes): ERR_KEY_INVALID.
 */
import { decodeBase64 } from '../encoding/bytes.ts';
import { DER_INTEGER, DER_OCTET_STRING, DerReader } from '../encoding/der.ts';
import { FormatError, LimitError } from '../errors.ts';

/**
 * PKCS8_MAX_PBKDF2_ITERATIONS: 10,000,000 iterations are about 5 s of PBKDF2-HMAC-SHA256 on this class of machine,
 * the order of a sealed key at its maximum cost. OpenSSL writes 2,048 by default; OWASP's 2023 advice for
 * PBKDF2-HMAC-SHA256 is 600,000.
 */
export const PKCS8_MAX_PBKDF2_ITERATIONS = 10_000_000;
/** PKCS8_MAX_SCRYPT_WORK caps N·r·p (2^20 · 8, a sealed key's maximum). */
export const PKCS8_MAX_SCRYPT_WORK = 2 ** 20 * 8;
/** PKCS8_MAX_SCRYPT_MEMORY caps scrypt's memory, 128·N·r bytes (1 GiB). */
export const PKCS8_MAX_SCRYPT_MEMORY = 2 ** 30;

const OID_PBES2 = '1.2.840.113549.1.5.13';
const OID_PBKDF2 = '1.2.840.113549.1.5.12';
const OID_SCRYPT = '1.3.6.1.4.1.11591.4.11';
const PKCS5_PREFIX = '1.2.840.113549.1.5.';
const PKCS12_PBE_PREFIX = '1.2.840.113549.1.12.1.';

const PEM_RE = /-----BEGIN ENCRYPTED PRIVATE KEY-----\r?\n([A-Za-z0-9+/=\r\n]+?)\r?\n?-----END ENCRYPTED PRIVATE KEY-----/;
const WHAT = 'encrypted PKCS#8 key';
const HINT = 're-encrypt the key at a usual cost (e.g. `openssl pkcs8 -topk8 -v2 aes-256-cbc -iter 600000`), or make a Custody sealed key';

/** Pkcs8KdfCost is what a file asks for, for messages and tests. */
export type Pkcs8KdfCost = { kdf: 'pbkdf2' | 'pbe'; iterations: number } | { kdf: 'scrypt'; n: number; r: number; p: number };

function invalid(message: string): FormatError {
  return new FormatError('ERR_KEY_INVALID', `${WHAT}: ${message}`);
}

function tooCostly(message: string): LimitError {
  return new LimitError('ERR_LIMIT_KDF_COST', `${WHAT} ${message}`, { hint: HINT });
}

/**
 * Pkcs8CostOptions: a caller reading keys it trusts less than its own (the fuzz target: every input is hostile) caps
 * the cost lower — maxLog2N for scrypt, as for sealed keys; maxIterations for PBKDF2 and PBE.
 */
export interface Pkcs8CostOptions {
  maxLog2N?: number | undefined;
  maxIterations?: number | undefined;
}

/**
 * checkEncryptedPkcs8Cost reads the key derivation of the one `ENCRYPTED PRIVATE KEY` PEM block in `pem` and
 * refuses it when it is over the bounds above or the caller's. It returns what it read.
 */
export function checkEncryptedPkcs8Cost(pem: string, options: Pkcs8CostOptions = {}): Pkcs8KdfCost {
  if (pem.split('-----BEGIN ').length !== 2) throw invalid('the text must hold exactly one PEM block');
  const m = PEM_RE.exec(pem);
  if (!m?.[1]) throw invalid('malformed PEM');
  let der: Uint8Array;
  try {
    der = decodeBase64(m[1].replace(/\r?\n/g, ''), undefined, WHAT);
  } catch (e) {
    throw new FormatError('ERR_KEY_INVALID', `${WHAT}: its PEM body is not canonical base64`, { cause: e });
  }
  const info = new DerReader(der, WHAT).sequence();
  const alg = info.sequence();
  const scheme = alg.oid();
  if (scheme === OID_PBES2) {
    const params = alg.sequence();
    const kdf = params.sequence();
    const kdfOid = kdf.oid();
    const kp = kdf.sequence();
    if (kdfOid === OID_PBKDF2) {
      // PBKDF2-params: salt CHOICE { specified OCTET STRING, otherSource AlgorithmIdentifier }, iterationCount, …
      if (kp.peekTag() !== DER_OCTET_STRING) throw invalid('PBKDF2 salt is not an OCTET STRING');
      kp.next(DER_OCTET_STRING);
      return pbkdf2Iterations(kp.integer(), 'pbkdf2', options.maxIterations);
    }
    if (kdfOid === OID_SCRYPT) {
      kp.next(DER_OCTET_STRING);
      const n = kp.integer();
      const r = kp.integer();
      const p = kp.integer();
      return scryptCost(n, r, p, options.maxLog2N);
    }
    throw invalid(`unsupported PBES2 key derivation ${kdfOid}`);
  }
  if (scheme.startsWith(PKCS5_PREFIX) || scheme.startsWith(PKCS12_PBE_PREFIX)) {
    // PBEParameter (RFC 8018 A.3) and pkcs-12PbeParams (RFC 7292 C): SEQUENCE { salt OCTET STRING, iterations INTEGER }.
    const params = alg.sequence();
    params.next(DER_OCTET_STRING);
    if (params.peekTag() !== DER_INTEGER) throw invalid('PBE parameters without an iteration count');
    return pbkdf2Iterations(params.integer(), 'pbe', options.maxIterations);
  }
  throw invalid(`unsupported encryption scheme ${scheme}`);
}

function pbkdf2Iterations(iterations: number, kdf: 'pbkdf2' | 'pbe', maxIterations: number | undefined): Pkcs8KdfCost {
  if (iterations < 1) throw invalid('an iteration count below 1');
  const cap = Math.min(PKCS8_MAX_PBKDF2_ITERATIONS, maxIterations ?? Infinity);
  if (iterations > cap) {
    const asked = Number.isFinite(iterations) ? iterations.toLocaleString('en-US') : 'over 2^48';
    const over = cap === PKCS8_MAX_PBKDF2_ITERATIONS ? 'Custody runs' : 'this caller accepts';
    throw tooCostly(`asks for ${asked} ${kdf === 'pbkdf2' ? 'PBKDF2' : 'PBE'} iterations, over the ${cap.toLocaleString('en-US')} ${over}`);
  }
  return { kdf, iterations };
}

function scryptCost(n: number, r: number, p: number, maxLog2N: number | undefined): Pkcs8KdfCost {
  if (!Number.isFinite(n) || !Number.isFinite(r) || !Number.isFinite(p)) throw tooCostly('asks for scrypt parameters over 2^48');
  if (n < 2 || r < 1 || p < 1 || !Number.isInteger(Math.log2(n))) throw invalid(`scrypt parameters out of range (N ${n}, r ${r}, p ${p})`);
  if (n * r * p > PKCS8_MAX_SCRYPT_WORK || 128 * n * r > PKCS8_MAX_SCRYPT_MEMORY) {
    throw tooCostly(`asks for scrypt at N ${n}, r ${r}, p ${p}, over the work (N·r·p ≤ 2^23) or memory (1 GiB) Custody runs`);
  }
  if (maxLog2N !== undefined && n > 2 ** maxLog2N) {
    throw tooCostly(`asks for scrypt at cost N ${n}, over the 2^${maxLog2N} this caller accepts`);
  }
  return { kdf: 'scrypt', n, r, p };
}
