/**
 * crypto/hash — SHA-2 (FIPS 180-4) from Node's `crypto` (OpenSSL, SHA-NI where present) and BLAKE3 (the BLAKE3
 * specification, 2020; OpenSSL has none) from a native binding of the BLAKE3 team's Rust crate, `@napi-rs/blake-hash`
 * (SIMD: SSE4.1/AVX2/AVX-512/NEON chosen at run time, ~8× hash-wasm here), with hash-wasm (WebAssembly) as the
 * fallback where no prebuilt binding exists for the platform. Both are loaded on first BLAKE3 use only, so code that
 * never asks for BLAKE3 (most of the CLI) loads neither.
 *
 * `createMultiHasher` feeds one stream of bytes to several algorithms at once, so a file is read exactly once.
 */
import { createHash, createHmac, hash as nodeHash, randomBytes as nodeRandomBytes, timingSafeEqual } from 'node:crypto';
import { createRequire } from 'node:module';

/** HashAlgorithm is an algorithm Custody computes for artifacts. */
export type HashAlgorithm = 'sha256' | 'sha512' | 'blake3';

/** SUPPORTED_HASH_ALGORITHMS lists them in order of preference. */
export const SUPPORTED_HASH_ALGORITHMS: readonly HashAlgorithm[] = ['sha256', 'sha512', 'blake3'];

/** HASH_DIGEST_BYTES gives each algorithm's digest length (BLAKE3: its default 256-bit output). */
export const HASH_DIGEST_BYTES: Readonly<Record<HashAlgorithm, number>> = { sha256: 32, sha512: 64, blake3: 32 };

/** isHashAlgorithm narrows a string to a supported algorithm name. */
export function isHashAlgorithm(s: string): s is HashAlgorithm {
  return s === 'sha256' || s === 'sha512' || s === 'blake3';
}

/** sha256 returns SHA-256(data) as bytes. */
export function sha256(data: Uint8Array | string): Uint8Array {
  return nodeHash('sha256', data, 'buffer');
}

/** hmacSha256 is HMAC-SHA-256 (RFC 2104, FIPS 198-1) of data under key: 32 bytes. */
export function hmacSha256(key: Uint8Array, data: Uint8Array | string): Uint8Array {
  return new Uint8Array(createHmac('sha256', key).update(data).digest());
}

/** SMALL_CONCAT_BYTES: below this, copying the parts together and hashing one-shot beats a streaming Hash. */
const SMALL_CONCAT_BYTES = 4096;

/**
 * sha256Concat returns SHA-256 of the concatenation of the parts. Merkle leaves and nodes (65 bytes) take the
 * one-shot path, ~25 % cheaper per call than creating a Hash object; large inputs stream without copying.
 */
export function sha256Concat(...parts: Uint8Array[]): Uint8Array {
  let total = 0;
  for (const p of parts) total += p.length;
  if (total <= SMALL_CONCAT_BYTES) return nodeHash('sha256', Buffer.concat(parts, total), 'buffer');
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
}

/** DigestAlgorithm names the SHA family members evidence formats carry (SPDX checksums, in-toto digests). */
export type DigestAlgorithm = 'sha1' | 'sha256' | 'sha384' | 'sha512';

/** Digest is a streaming hash of one {@link DigestAlgorithm}: update any number of times, then digest once. */
export interface Digest {
  update(data: Uint8Array): void;
  digest(): Uint8Array;
}

/**
 * createDigest starts a streaming {@link DigestAlgorithm} hash. SHA-1 is here only because SPDX 2.3 requires a SHA1
 * checksum per file; it is never used for a trust decision.
 */
export function createDigest(algorithm: DigestAlgorithm): Digest {
  const h = createHash(algorithm);
  return {
    update: (data) => void h.update(data),
    digest: () => new Uint8Array(h.digest()),
  };
}

/**
 * digestHex is the one-shot form of {@link createDigest}, as lowercase hex: for data already in memory (a small
 * file read whole) it skips creating a Hash object, the larger part of the cost below a few KiB.
 */
export function digestHex(algorithm: DigestAlgorithm, data: Uint8Array): string {
  return nodeHash(algorithm, data, 'hex');
}

/** Hasher consumes bytes and yields digests for each requested algorithm. */
export interface MultiHasher {
  update(chunk: Uint8Array): void;
  /** digest returns lowercase hex per algorithm. */
  digest(): Record<HashAlgorithm, string>;
}

/** Blake3Backend names a BLAKE3 implementation: the native binding or the WebAssembly fallback. */
export type Blake3Backend = 'native' | 'wasm';

/** Blake3State is one BLAKE3 computation (default mode, 32-byte output). */
export interface Blake3State {
  update(chunk: Uint8Array): void;
  /** digestHex returns the 32-byte digest as lowercase hex; the state is not used afterwards. */
  digestHex(): string;
}

type NativeBlake3 = typeof import('@napi-rs/blake-hash').Blake3Hasher;
let nativeBlake3: NativeBlake3 | null | undefined;

/**
 * loadNativeBlake3 returns the native hasher class, or null where the platform has no prebuilt binding (its loader
 * throws when no optional platform package matches); tried once per process.
 */
function loadNativeBlake3(): NativeBlake3 | null {
  if (nativeBlake3 === undefined) {
    try {
      const mod = createRequire(import.meta.url)('@napi-rs/blake-hash') as typeof import('@napi-rs/blake-hash');
      nativeBlake3 = mod.Blake3Hasher;
    } catch {
      nativeBlake3 = null;
    }
  }
  return nativeBlake3;
}

/** blake3Backend returns the implementation `createBlake3` picks on this machine: native when it loads, else wasm. */
export function blake3Backend(): Blake3Backend {
  return loadNativeBlake3() ? 'native' : 'wasm';
}

/**
 * createBlake3 starts a BLAKE3 computation with `backend` (default: `blake3Backend()`). Asking for 'native' where
 * the binding is missing is a programming error (tests ask for each backend they check).
 */
export async function createBlake3(backend: Blake3Backend = blake3Backend()): Promise<Blake3State> {
  if (backend === 'native') {
    const Native = loadNativeBlake3();
    if (!Native) throw new Error('crypto: the native BLAKE3 binding is not available on this platform');
    const h = new Native();
    // The binding takes a Buffer; a Buffer view of the same memory costs no copy.
    const asBuffer = (c: Uint8Array): Buffer => (Buffer.isBuffer(c) ? c : Buffer.from(c.buffer, c.byteOffset, c.byteLength));
    return { update: (chunk) => void h.update(asBuffer(chunk)), digestHex: () => h.digest('hex') };
  }
  const { createBLAKE3 } = await import('hash-wasm');
  const h = await createBLAKE3();
  h.init();
  return { update: (chunk) => void h.update(chunk), digestHex: () => h.digest('hex') };
}

/** createMultiHasher returns a hasher computing every algorithm in `algorithms` over the same byte stream. */
export async function createMultiHasher(algorithms: readonly HashAlgorithm[]): Promise<MultiHasher> {
  const sha = algorithms
    .filter((a): a is 'sha256' | 'sha512' => a !== 'blake3')
    .map((a) => [a, createHash(a)] as const);
  const b3 = algorithms.includes('blake3') ? await createBlake3() : undefined;
  return {
    update(chunk) {
      for (const [, h] of sha) h.update(chunk);
      if (b3) b3.update(chunk);
    },
    digest() {
      const out = {} as Record<HashAlgorithm, string>;
      for (const [a, h] of sha) out[a] = h.digest('hex');
      if (b3) out.blake3 = b3.digestHex();
      return out;
    },
  };
}

/** constantTimeEqual compares two byte strings without early exit; different lengths are simply unequal. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  return timingSafeEqual(a, b);
}

/** randomBytes returns n bytes from OpenSSL's CSPRNG. */
export function randomBytes(n: number): Uint8Array {
  return new Uint8Array(nodeRandomBytes(n));
}
