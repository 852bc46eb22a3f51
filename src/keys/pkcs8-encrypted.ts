/**
 * keys/pkcs8-encrypted — bounds the key derivation an OpenSSL `-----BEGIN ENCRYPTED PRIVATE KEY-----` file asks for,
 * before OpenSSL runs it. The file is an EncryptedPrivateKeyInfo (RFC 5958 §3): its encryptionAlgorithm names the
 * scheme and carries its parameters, and nothing in the file is authenticated until the derivation has run.
 *
 * RFC 8018 puts no upper bound on a PBKDF2 iteration count, and RFC 7914 §7 none on scrypt's N, r and p, so a file
 * can demand any amount of work: 2^31−1 PBKDF2-HMAC-SHA256 iterations are about 17 minutes of CPU here (8,388,607
 * took 4.0 s), and scrypt's p multiplies its time without raising its memory. OpenSSL also derives twice when a
 * key does not open (its decoder, then its legacy PEM reader: 1.6–2.4× one derivation measured), which every hostile
 * file does. Read here:
 * - PBES2 (1.2.840.113549.1.5.13) with PBKDF2 (1.2.840.113549.1.5.12): the work, iterations × the HMAC blocks a
 *   32-byte key needs × the PRF's cost per block (PBKDF2_PRFS), ≤ PKCS8_MAX_PBKDF2_WORK; a PRF not in the table is
 *   refused;
 * - PBES2 with scrypt (1.3.6.1.4.1.11591.4.11): N a power of two, N·r·p ≤ a sealed key's maximum work (2^20 · 8), and
 *   the memory OpenSSL allows itself by default (128·r·(N+2) + 128·r·p ≤ 32 MiB; over it OpenSSL refuses with an
 *   error Node reports as a bad decrypt, which would read as a wrong passphrase);
 * - the PBES1 and PKCS#12 schemes (pkcs-5 1.2.840.113549.1.5.x, pkcs-12PbeIds 1.2.840.113549.1.12.1.x), whose
 *   parameters are `SEQUENCE { salt OCTET STRING, iterations INTEGER }`: iterations ≤ PKCS8_MAX_PBKDF2_WORK (their
 *   hash costs no more per iteration than HMAC-SHA256, measured).
 * Over a bound: ERR_LIMIT_KDF_COST. Another scheme, KDF or PRF, parameters of another shape, more than one PEM block
 * in the text (OpenSSL would take the first: this check must read the one it takes) or an empty line inside the block
 * (OpenSSL's PEM reader takes what precedes it as headers): ERR_KEY_INVALID.
 */
import { SEALED_KEY_MAX_LOG2N, SEALED_KEY_SCRYPT_P, SEALED_KEY_SCRYPT_R } from '../crypto/sealed-key.ts';
import { decodeBase64 } from '../encoding/bytes.ts';
import { DER_INTEGER, DER_OCTET_STRING, DerReader } from '../encoding/der.ts';
import { FormatError, LimitError } from '../errors.ts';

/**
 * PKCS8_MAX_PBKDF2_WORK: 5,000,000 HMAC-SHA256 iterations are about 2.5 s on this class of machine, so about 5 s for
 * a file that does not open (derived twice). OpenSSL writes 2,048 iterations by default; OWASP's 2023 advice for
 * PBKDF2-HMAC-SHA256 is 600,000.
 */
export const PKCS8_MAX_PBKDF2_WORK = 5_000_000;
/** PKCS8_MAX_SCRYPT_WORK caps N·r·p at a sealed key's maximum (crypto/sealed-key: N 2^20, r 8, p 1). */
export const PKCS8_MAX_SCRYPT_WORK = 2 ** SEALED_KEY_MAX_LOG2N * SEALED_KEY_SCRYPT_R * SEALED_KEY_SCRYPT_P;
/** OPENSSL_SCRYPT_MAX_MEMORY is the memory OpenSSL 3 lets scrypt use when the caller sets none (SCRYPT_MAX_MEM). */
export const OPENSSL_SCRYPT_MAX_MEMORY = 32 * 1024 * 1024;

/**
 * PBKDF2_PRFS: the PRFs of PBKDF2-params (RFC 8018 B.1.2; absent = hmacWithSHA1), each with its output size and its
 * cost per HMAC block relative to HMAC-SHA256 (the SHA-512 family measured 2.6–5× slower per iteration here: SHA-256
 * has CPU instructions, SHA-512 not), so the work bound is one of time, not of a count.
 */
const PBKDF2_PRFS: Readonly<Record<string, { name: string; bytes: number; cost: number }>> = {
  '1.2.840.113549.2.7': { name: 'HMAC-SHA1', bytes: 20, cost: 1 },
  '1.2.840.113549.2.8': { name: 'HMAC-SHA224', bytes: 28, cost: 1 },
  '1.2.840.113549.2.9': { name: 'HMAC-SHA256', bytes: 32, cost: 1 },
  '1.2.840.113549.2.10': { name: 'HMAC-SHA384', bytes: 48, cost: 5 },
  '1.2.840.113549.2.11': { name: 'HMAC-SHA512', bytes: 64, cost: 5 },
  '1.2.840.113549.2.12': { name: 'HMAC-SHA512/224', bytes: 28, cost: 5 },
  '1.2.840.113549.2.13': { name: 'HMAC-SHA512/256', bytes: 32, cost: 5 },
};
const DEFAULT_PRF = '1.2.840.113549.2.7';
/** MAX_KEY_BYTES: the longest key a cipher OpenSSL accepts here takes (AES-256; XTS is refused before deriving). */
const MAX_KEY_BYTES = 32;

const OID_PBES2 = '1.2.840.113549.1.5.13';
const OID_PBKDF2 = '1.2.840.113549.1.5.12';
const OID_SCRYPT = '1.3.6.1.4.1.11591.4.11';
const PKCS5_PREFIX = '1.2.840.113549.1.5.';
const PKCS12_PBE_PREFIX = '1.2.840.113549.1.12.1.';

const PEM_RE = /-----BEGIN ENCRYPTED PRIVATE KEY-----\r?\n([A-Za-z0-9+/=\r\n]+?)\r?\n?-----END ENCRYPTED PRIVATE KEY-----/;
const EMPTY_LINE_RE = /(^|\n)\r?(\n|$)/;
const WHAT = 'encrypted PKCS#8 key';
const HINT = 're-encrypt the key at a usual cost (e.g. `openssl pkcs8 -topk8 -v2 aes-256-cbc -iter 600000`), or make a Custody sealed key';

/** Pkcs8KdfCost is what a file asks for, for messages and tests. */
export type Pkcs8KdfCost = { kdf: 'pbkdf2'; prf: string; iterations: number } | { kdf: 'pbe'; iterations: number } | { kdf: 'scrypt'; n: number; r: number; p: number };

function invalid(message: string): FormatError {
  return new FormatError('ERR_KEY_INVALID', `${WHAT}: ${message}`);
}

function tooCostly(message: string): LimitError {
  return new LimitError('ERR_LIMIT_KDF_COST', `${WHAT} ${message}`, { hint: HINT });
}

/**
 * Pkcs8CostOptions: a caller reading keys it trusts less than its own (the fuzz target: every input is hostile) caps
 * the cost lower — maxLog2N for scrypt, as for sealed keys (N ≤ 2^maxLog2N and N·r·p ≤ 2^maxLog2N · 8, no costlier
 * than a sealed key at that N); maxIterations for the iteration count of PBKDF2 and PBE.
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
  if (EMPTY_LINE_RE.test(m[1])) throw invalid('an empty line inside the PEM block (OpenSSL reads what precedes it as headers)');
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
      // PBKDF2-params: salt CHOICE { specified OCTET STRING, otherSource AlgorithmIdentifier }, iterationCount,
      // keyLength INTEGER OPTIONAL, prf AlgorithmIdentifier DEFAULT hmacWithSHA1.
      if (kp.peekTag() !== DER_OCTET_STRING) throw invalid('PBKDF2 salt is not an OCTET STRING');
      kp.next(DER_OCTET_STRING);
      const iterations = kp.integer();
      if (kp.peekTag() === DER_INTEGER) kp.integer();
      const prfOid = kp.done ? DEFAULT_PRF : kp.sequence().oid();
      const prf = PBKDF2_PRFS[prfOid];
      if (prf === undefined) throw invalid(`unsupported PBKDF2 PRF ${prfOid}`);
      const blocks = Math.ceil(MAX_KEY_BYTES / prf.bytes);
      checkIterations(iterations, prf.name, Math.floor(PKCS8_MAX_PBKDF2_WORK / (blocks * prf.cost)), options.maxIterations);
      return { kdf: 'pbkdf2', prf: prf.name, iterations };
    }
    if (kdfOid === OID_SCRYPT) {
      // scrypt-params (RFC 7914 §7.1): salt OCTET STRING, costParameter, blockSize, parallelizationParameter, keyLength.
      if (kp.peekTag() !== DER_OCTET_STRING) throw invalid('scrypt salt is not an OCTET STRING');
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
    const iterations = params.integer();
    checkIterations(iterations, 'PBE', PKCS8_MAX_PBKDF2_WORK, options.maxIterations);
    return { kdf: 'pbe', iterations };
  }
  throw invalid(`unsupported encryption scheme ${scheme}`);
}

/** checkIterations refuses a count below 1, or over `cap` (what Custody runs for that hash) or the caller's. */
function checkIterations(iterations: number, hash: string, cap: number, maxIterations: number | undefined): void {
  if (iterations < 1) throw invalid('an iteration count below 1');
  const limit = Math.min(cap, maxIterations ?? Infinity);
  if (iterations > limit) {
    const asked = Number.isFinite(iterations) ? iterations.toLocaleString('en-US') : 'over 2^48 − 1';
    const over = limit === cap ? `Custody runs for ${hash}` : 'this caller accepts';
    throw tooCostly(`asks for ${asked} ${hash} iterations, over the ${limit.toLocaleString('en-US')} ${over}`);
  }
}

function scryptCost(n: number, r: number, p: number, maxLog2N: number | undefined): Pkcs8KdfCost {
  if (!Number.isFinite(n) || !Number.isFinite(r) || !Number.isFinite(p)) throw tooCostly('asks for scrypt parameters over 2^48 − 1');
  if (n < 2 || r < 1 || p < 1 || !Number.isInteger(Math.log2(n))) throw invalid(`scrypt parameters out of range (N ${n}, r ${r}, p ${p})`);
  if (128 * r * (n + 2) + 128 * r * p > OPENSSL_SCRYPT_MAX_MEMORY) {
    throw tooCostly(`asks for scrypt at N ${n}, r ${r}, p ${p}: over the 32 MiB OpenSSL lets scrypt use`);
  }
  const work = maxLog2N === undefined ? PKCS8_MAX_SCRYPT_WORK : Math.min(PKCS8_MAX_SCRYPT_WORK, 2 ** maxLog2N * SEALED_KEY_SCRYPT_R * SEALED_KEY_SCRYPT_P);
  if (n * r * p > work || (maxLog2N !== undefined && n > 2 ** maxLog2N)) {
    const whose = work === PKCS8_MAX_SCRYPT_WORK && maxLog2N === undefined ? 'Custody runs' : 'this caller accepts';
    throw tooCostly(`asks for scrypt at N ${n}, r ${r}, p ${p}: over the work (N·r·p ≤ ${work.toLocaleString('en-US')}) ${whose}`);
  }
  return { kdf: 'scrypt', n, r, p };
}
