/**
 * crypto/hash — SHA-2 (FIPS 180-4) from Node's `crypto` (OpenSSL, SHA-NI where present) and BLAKE3 from hash-wasm
 * (WebAssembly; OpenSSL has no BLAKE3, and a pure-JS BLAKE3 is ~25× slower; `npm run bench` compares ours with b3sum).
 *
 * `createMultiHasher` feeds one stream of bytes to several algorithms at once, so a file is read exactly once.
 */
import { createHash, hash as nodeHash, randomBytes as nodeRandomBytes, timingSafeEqual } from 'node:crypto';
import { createBLAKE3 } from 'hash-wasm';

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

/** Hasher consumes bytes and yields digests for each requested algorithm. */
export interface MultiHasher {
  update(chunk: Uint8Array): void;
  /** digest returns lowercase hex per algorithm. */
  digest(): Record<HashAlgorithm, string>;
}

/** createMultiHasher returns a hasher computing every algorithm in `algorithms` over the same byte stream. */
export async function createMultiHasher(algorithms: readonly HashAlgorithm[]): Promise<MultiHasher> {
  const sha = algorithms
    .filter((a): a is 'sha256' | 'sha512' => a !== 'blake3')
    .map((a) => [a, createHash(a)] as const);
  const b3 = algorithms.includes('blake3') ? await createBLAKE3() : undefined;
  if (b3) b3.init();
  return {
    update(chunk) {
      for (const [, h] of sha) h.update(chunk);
      if (b3) b3.update(chunk);
    },
    digest() {
      const out = {} as Record<HashAlgorithm, string>;
      for (const [a, h] of sha) out[a] = h.digest('hex');
      if (b3) out.blake3 = b3.digest('hex');
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
