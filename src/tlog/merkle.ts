/**
 * tlog/merkle — RFC 6962 / RFC 9162 Merkle tree hashing, proof verification, and proof generation over stored
 * hashes (the storage numbering and proof structure of golang.org/x/mod/sumdb/tlog, BSD-3-Clause, reimplemented; see
 * NOTICE).
 *
 * Hashing (RFC 6962 §2.1, SHA-256):
 * ```
 * empty tree   MTH({})    = SHA-256()                               (e3b0c442…52b855)
 * leaf         MTH({d})   = SHA-256(0x00 || d)
 * interior     MTH(D[n])  = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))   k = largest power of 2 < n
 * ```
 * Proofs are arrays of 32-byte hashes, ordered from the leaf (or the old tree) upward, as in RFC 6962 §2.1.1/§2.1.2.
 *
 * Trust boundary: `verifyInclusion` and `verifyConsistency` take attacker-controlled proofs, indexes and sizes and
 * either return (the claim holds for the given roots) or throw: `VerificationError` when the proof does not prove the
 * claim, `FormatError` when the request itself is malformed (index ≥ size, size1 > size2, a proof hash that is not 32
 * bytes, a size that is not a safe integer). Roots are only compared, never parsed, so a root of the wrong length is
 * simply a mismatch. Proof generation trusts its `HashReader` (our own storage, or tiles that `tileHashReader` has
 * authenticated against a signed root).
 *
 * Storage numbering: every hash the log ever computes (leaf hashes and completed subtree hashes) gets a stored index,
 * assigned in the order the hashes become known while appending. Appending record n stores its leaf hash, then the
 * hash of every subtree record n completes (one per trailing 1 bit of n):
 * ```
 * stored index:  0     1     2        3     4     5        6        7 ...
 * hash:          L0    L1    N(0,1)   L2    L3    N(2,3)   N(0..3)  L4 ...     (level-0 leaf hashes Lk, nodes N)
 * ```
 * Sizes and indexes are JS numbers. Verification accepts any size up to 2^53−1; the stored-hash functions accept trees
 * of up to {@link MAX_STORED_TREE_SIZE} = 2^52 records, so that every stored index (< 2·size) stays an exact integer.
 *
 * No I/O happens here: storage is reached only through {@link HashReader} / {@link AsyncHashReader}.
 */
import { sha256, sha256Concat } from '../crypto/index.ts';
import { FormatError, VerificationError } from '../errors.ts';

/** HASH_BYTES is the size of every Merkle tree hash (SHA-256). */
export const HASH_BYTES = 32;

/** RFC6962_LEAF_HASH_PREFIX is the domain-separation byte of leaf hashes (RFC 6962 §2.1). */
export const RFC6962_LEAF_HASH_PREFIX: Uint8Array = Uint8Array.of(0x00);

/** RFC6962_NODE_HASH_PREFIX is the domain-separation byte of interior node hashes (RFC 6962 §2.1). */
export const RFC6962_NODE_HASH_PREFIX: Uint8Array = Uint8Array.of(0x01);

/** MAX_TREE_SIZE is the largest tree size the verification functions accept (2^53−1, `Number.MAX_SAFE_INTEGER`). */
export const MAX_TREE_SIZE = Number.MAX_SAFE_INTEGER;

/**
 * MAX_STORED_TREE_SIZE is the largest tree size (2^52 records) the stored-hash functions accept: a tree of 2^52
 * records has exactly 2^53−1 stored hashes, so every stored index is an exact JS integer.
 */
export const MAX_STORED_TREE_SIZE = 2 ** 52;

/**
 * MAX_PROOF_HASHES caps the proofs the verifiers look at: an inclusion or consistency proof in a tree of at most
 * 2^53−1 leaves has at most 54 hashes, and c2sp.org/tlog-witness caps proofs at 63 lines.
 */
export const MAX_PROOF_HASHES = 64;

const EMPTY_TREE_ROOT = sha256(new Uint8Array(0));

/**
 * HashReader gives proof generation synchronous access to stored hashes.
 *
 * Duties of an implementation:
 * - `readHashes(indexes)` returns exactly one 32-byte hash per requested stored index, in the order requested
 *   (indexes may repeat and need not be sorted; callers here ask in increasing order, which suits range reads).
 * - It returns only hashes that are durably stored for the tree being proven, i.e. written by {@link storedHashes}
 *   for records below the tree size; it must never invent or zero-fill a missing hash.
 * - It throws (any error; an `IoError` for storage failures) when a hash cannot be read, rather than returning a
 *   shorter array. Returning the wrong count or a hash of the wrong length is treated as a bug (plain `Error`).
 * - It may be called concurrently with appends as long as the requested indexes are already durable.
 * - The returned arrays are not mutated by callers here; an implementation may return views of its own buffers.
 */
export interface HashReader {
  readHashes(indexes: readonly number[]): Uint8Array[];
}

/** AsyncHashReader is {@link HashReader} for storage that answers asynchronously (network, tiles); same duties. */
export interface AsyncHashReader {
  readHashes(indexes: readonly number[]): Promise<Uint8Array[]>;
}

/**
 * hashReaderFunc adapts a function to a {@link HashReader} (Go `HashReaderFunc`).
 *
 * @example
 * const hashes: Uint8Array[] = [];
 * const reader = hashReaderFunc((ix) => ix.map((i) => hashes[i]!));
 */
export function hashReaderFunc(fn: (indexes: readonly number[]) => Uint8Array[]): HashReader {
  return { readHashes: fn };
}

/** hashLeaf returns the RFC 6962 leaf hash SHA-256(0x00 || entry). */
export function hashLeaf(entry: Uint8Array): Uint8Array {
  // RFC 6962 §2.1: MTH({d(0)}) = SHA-256(0x00 || d(0))
  return sha256Concat(RFC6962_LEAF_HASH_PREFIX, entry);
}

/** hashChildren returns the RFC 6962 interior node hash SHA-256(0x01 || left || right). */
export function hashChildren(left: Uint8Array, right: Uint8Array): Uint8Array {
  // RFC 6962 §2.1: MTH(D[n]) = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))
  return sha256Concat(RFC6962_NODE_HASH_PREFIX, left, right);
}

/** emptyTreeRoot returns (a fresh copy of) the root of the empty tree, SHA-256 of the empty string. */
export function emptyTreeRoot(): Uint8Array {
  // RFC 6962 §2.1: MTH({}) = SHA-256()
  return Uint8Array.from(EMPTY_TREE_ROOT);
}

// ---------------------------------------------------------------------------------------------------------------
// Verification (RFC 9162 §2.1.3.2 and §2.1.4.2). Arithmetic uses division instead of bit shifts: JS bit operators
// truncate to 32 bits, and sizes go up to 2^53−1. Division by 2 of an integer below 2^53 is exact.

/**
 * verifyInclusion checks that `leafHash` is the leaf at `index` in the tree of `size` leaves whose root is `root`.
 * Returns nothing on success; throws `VerificationError('ERR_TLOG_INCLUSION_INVALID')` when the proof does not prove
 * it, and `FormatError` (`ERR_TLOG_RANGE`, `ERR_TLOG_HASH_LENGTH`) when the input is malformed.
 *
 * @example
 * verifyInclusion(hashLeaf(entry), 5, checkpoint.size, proof, checkpoint.rootHash);
 */
export function verifyInclusion(
  leafHash: Uint8Array,
  index: number,
  size: number,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): void {
  checkSize(size, 'tree size', MAX_TREE_SIZE);
  checkSize(index, 'leaf index', MAX_TREE_SIZE);
  if (index >= size) {
    throw new FormatError('ERR_TLOG_RANGE', `expected a leaf index below the tree size ${size}, got ${index}`);
  }
  checkHash(leafHash, 'leaf hash');
  const fail = (why: string): never => {
    throw new VerificationError('ERR_TLOG_INCLUSION_INVALID', `inclusion proof for leaf ${index} in tree ${size} ${why}`, {
      details: { index, size, proofLength: proof.length },
    });
  };
  checkProof(proof, fail);
  // RFC 9162 §2.1.3.2 step 2: fn = leaf_index, sn = tree_size - 1, r = hash.
  let fn = index;
  let sn = size - 1;
  let r = leafHash;
  for (const p of proof) {
    // Step 3.1: a proof longer than the path to the root is invalid.
    if (sn === 0) fail('is too long');
    if (fn % 2 === 1 || fn === sn) {
      // Step 3.2: p is a left sibling: r = HASH(0x01 || p || r), then skip levels where r has no right sibling.
      r = hashChildren(p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn /= 2;
        sn = Math.floor(sn / 2);
      }
    } else {
      // Step 3.3: p is a right sibling: r = HASH(0x01 || r || p).
      r = hashChildren(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  // Step 4: the path must end exactly at the root, and the computed root must match.
  if (sn !== 0) fail('is too short');
  if (!bytesEqual(r, root)) fail('does not lead to the expected root');
}

/**
 * verifyConsistency checks that the tree of `size1` leaves with root `root1` is a prefix of the tree of `size2`
 * leaves with root `root2`. Returns nothing on success; throws `VerificationError('ERR_TLOG_CONSISTENCY_INVALID')`
 * when the proof does not prove it, and `FormatError` when the input is malformed: `size1 > size2`, or `size1 = 0`
 * (a proof from the empty tree is meaningless — c2sp.org/tlog-witness requires an empty proof from old size 0, which a
 * witness checks itself without calling this function).
 *
 * @example
 * verifyConsistency(old.size, cur.size, proof, old.rootHash, cur.rootHash);
 */
export function verifyConsistency(
  size1: number,
  size2: number,
  proof: readonly Uint8Array[],
  root1: Uint8Array,
  root2: Uint8Array,
): void {
  checkSize(size1, 'old tree size', MAX_TREE_SIZE);
  checkSize(size2, 'new tree size', MAX_TREE_SIZE);
  if (size1 > size2) {
    throw new FormatError('ERR_TLOG_RANGE', `expected an old size at most the new size ${size2}, got ${size1}`);
  }
  if (size1 === 0) {
    throw new FormatError('ERR_TLOG_RANGE', 'a consistency proof from the empty tree is meaningless', {
      details: { size1, size2 },
    });
  }
  const fail = (why: string): never => {
    throw new VerificationError('ERR_TLOG_CONSISTENCY_INVALID', `consistency proof from ${size1} to ${size2} ${why}`, {
      details: { size1, size2, proofLength: proof.length },
    });
  };
  checkProof(proof, fail);
  if (size1 === size2) {
    // RFC 9162 §2.1.4.1: the proof between equal sizes is empty, and the roots must be the same.
    if (proof.length !== 0) fail('must be empty for equal sizes');
    if (!bytesEqual(root1, root2)) fail('cannot hold: equal sizes with different roots');
    return;
  }
  // RFC 9162 §2.1.4.2 step 1: an empty proof cannot connect two different sizes.
  if (proof.length === 0) fail('is empty');
  // Step 2: if size1 is an exact power of 2, the old root is the first node on the path ("prepend first_hash").
  let i = 0;
  let seed: Uint8Array;
  if (isPowerOfTwo(size1)) {
    seed = root1;
  } else {
    seed = proof[0]!;
    i = 1;
  }
  // Steps 3–4: fn = first_size - 1, sn = second_size - 1; skip the levels where the old tree's last node is a right
  // child (LSB(fn) set).
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (fn % 2 === 1) {
    fn = (fn - 1) / 2;
    sn = Math.floor(sn / 2);
  }
  // Step 5: fr and sr both start from the first path node.
  let fr = seed;
  let sr = seed;
  // Step 6: walk up, computing the old root (fr) and the new root (sr) together.
  for (; i < proof.length; i++) {
    const c = proof[i]!;
    if (sn === 0) fail('is too long');
    if (fn % 2 === 1 || fn === sn) {
      // Step 6.2: c is a left sibling of both paths.
      fr = hashChildren(c, fr);
      sr = hashChildren(c, sr);
      while (fn % 2 === 0 && fn !== 0) {
        fn /= 2;
        sn = Math.floor(sn / 2);
      }
    } else {
      // Step 6.3: c is a right sibling, present only in the new tree.
      sr = hashChildren(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  // Step 7: both roots must match and the walk must end at the root of the new tree.
  if (sn !== 0) fail('is too short');
  if (!bytesEqual(fr, root1)) fail('does not lead to the old root');
  if (!bytesEqual(sr, root2)) fail('does not lead to the new root');
}

// ---------------------------------------------------------------------------------------------------------------
// Stored hash numbering.

/**
 * storedHashIndex returns the stored index of the `n`-th hash at `level` (level 0 = leaf hashes; the hash at level L
 * index n covers records [n·2^L, (n+1)·2^L)).
 */
export function storedHashIndex(level: number, n: number): number {
  if (!Number.isInteger(level) || level < 0 || level > 52) {
    throw new FormatError('ERR_TLOG_RANGE', `expected a tree level from 0 to 52, got ${String(level)}`);
  }
  checkSize(n, 'hash index', MAX_STORED_TREE_SIZE);
  if ((n + 1) * 2 ** level > MAX_STORED_TREE_SIZE) {
    throw new FormatError('ERR_TLOG_RANGE', `hash ${n} at level ${level} lies beyond ${MAX_STORED_TREE_SIZE} records`);
  }
  return storedIndex(level, n);
}

/** storedIndex is storedHashIndex without argument checks, for internal callers that keep the invariants. */
function storedIndex(level: number, n: number): number {
  // The level-L hash n is stored right after the level-(L−1) hash 2n+1, its right child: walk down to level 0.
  for (let l = level; l > 0; l--) n = 2 * n + 1;
  // Level-0 hash n is preceded by n leaves and the n/2 + n/4 + … subtree hashes they completed.
  let i = 0;
  for (; n > 0; n = Math.floor(n / 2)) i += n;
  return i + level;
}

/** splitStoredHashIndex inverts {@link storedHashIndex}: it returns the level and the index within that level. */
export function splitStoredHashIndex(index: number): { level: number; n: number } {
  checkSize(index, 'stored hash index', MAX_TREE_SIZE);
  // storedIndex(0, n) ≤ 2n, so the record that stored this hash is at least index/2; step forward from there.
  let n = Math.floor(index / 2);
  let indexN = storedIndex(0, n);
  if (indexN > index) throw new Error('tlog: bad math in splitStoredHashIndex');
  for (;;) {
    // Appending record n stores 1 + trailingOnes(n) hashes, i.e. 1 + trailingZeros(n + 1).
    const x = indexN + 1 + trailingOnes(n);
    if (x > index) break;
    n++;
    indexN = x;
  }
  // The hash was stored with record n: it is (0, n), (1, n/2), (2, n/4), …
  const level = index - indexN;
  return { level, n: Math.floor(n / 2 ** level) };
}

/** storedHashCount returns the number of hashes stored for a tree of `size` records. */
export function storedHashCount(size: number): number {
  checkSize(size, 'tree size', MAX_STORED_TREE_SIZE);
  if (size === 0) return 0;
  // The hashes up to and including the last leaf hash, plus the subtrees that last leaf completes.
  return storedIndex(0, size - 1) + 1 + trailingOnes(size - 1);
}

/**
 * storedHashes returns the hashes to store when appending record `n` with leaf hash `leafHash` to a tree of `n`
 * records: the leaf hash followed by the hashes of the subtrees it completes, to be written at consecutive stored
 * indexes starting at `storedHashIndex(0, n)`. Reads at most log2(n) earlier hashes from `reader` (none when n is
 * even).
 *
 * @example
 * const fresh = storedHashes(size, hashLeaf(entry), reader);
 * fresh.forEach((h, i) => store.put(storedHashIndex(0, size) + i, h));
 */
export function storedHashes(n: number, leafHash: Uint8Array, reader: HashReader): Uint8Array[] {
  const indexes = storedHashesPlan(n, leafHash);
  return storedHashesFinish(leafHash, indexes, indexes.length === 0 ? [] : read(reader, indexes));
}

/** storedHashesAsync is {@link storedHashes} over an {@link AsyncHashReader}. */
export async function storedHashesAsync(n: number, leafHash: Uint8Array, reader: AsyncHashReader): Promise<Uint8Array[]> {
  const indexes = storedHashesPlan(n, leafHash);
  return storedHashesFinish(leafHash, indexes, indexes.length === 0 ? [] : await readAsync(reader, indexes));
}

function storedHashesPlan(n: number, leafHash: Uint8Array): number[] {
  checkSize(n, 'record number', MAX_STORED_TREE_SIZE - 1);
  checkHash(leafHash, 'leaf hash');
  // Each trailing 1 bit of n completes a subtree whose left half is an earlier stored hash.
  const m = trailingOnes(n);
  const indexes = new Array<number>(m);
  for (let i = 0; i < m; i++) {
    // Sorted ascending: the highest (oldest) left sibling first. n / 2^i is odd, so its left neighbour is n/2^i − 1.
    indexes[m - 1 - i] = storedIndex(i, Math.floor(n / 2 ** i) - 1);
  }
  return indexes;
}

function storedHashesFinish(leafHash: Uint8Array, indexes: number[], old: Uint8Array[]): Uint8Array[] {
  const m = indexes.length;
  const out = new Array<Uint8Array>(m + 1);
  let h = leafHash;
  out[0] = h;
  for (let i = 0; i < m; i++) {
    h = hashChildren(old[m - 1 - i]!, h);
    out[i + 1] = h;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Tree hash and proof generation. Each function plans the stored indexes it needs, reads them in ONE call, and then
// consumes them in the same order (the plan and the assembly walk the tree identically).

/** treeHash returns the root hash of the tree of `size` records (the empty-tree root for size 0). */
export function treeHash(size: number, reader: HashReader): Uint8Array {
  checkSize(size, 'tree size', MAX_STORED_TREE_SIZE);
  if (size === 0) return emptyTreeRoot();
  const indexes = subTreeIndexes(0, size, []);
  return subTreeHash(0, size, new Cursor(read(reader, indexes)));
}

/** treeHashAsync is {@link treeHash} over an {@link AsyncHashReader}. */
export async function treeHashAsync(size: number, reader: AsyncHashReader): Promise<Uint8Array> {
  checkSize(size, 'tree size', MAX_STORED_TREE_SIZE);
  if (size === 0) return emptyTreeRoot();
  const indexes = subTreeIndexes(0, size, []);
  return subTreeHash(0, size, new Cursor(await readAsync(reader, indexes)));
}

/**
 * proveInclusion returns the RFC 6962 §2.1.1 audit path for record `index` in the tree of `size` records (bottom
 * up, as {@link verifyInclusion} expects). Throws `FormatError('ERR_TLOG_RANGE')` unless 0 ≤ index < size.
 */
export function proveInclusion(index: number, size: number, reader: HashReader): Uint8Array[] {
  checkInclusionArgs(index, size);
  const indexes = leafProofIndexes(0, size, index, []);
  const out: Uint8Array[] = [];
  leafProof(0, size, index, new Cursor(read(reader, indexes)), out);
  return out;
}

/** proveInclusionAsync is {@link proveInclusion} over an {@link AsyncHashReader}. */
export async function proveInclusionAsync(index: number, size: number, reader: AsyncHashReader): Promise<Uint8Array[]> {
  checkInclusionArgs(index, size);
  const indexes = leafProofIndexes(0, size, index, []);
  const out: Uint8Array[] = [];
  leafProof(0, size, index, new Cursor(await readAsync(reader, indexes)), out);
  return out;
}

/**
 * proveConsistency returns the RFC 6962 §2.1.2 consistency proof from the tree of `size1` records to the tree of
 * `size2` records. The proof is empty when size1 = size2 and, as c2sp.org/tlog-witness requires, when size1 = 0.
 * Throws `FormatError('ERR_TLOG_RANGE')` unless 0 ≤ size1 ≤ size2.
 */
export function proveConsistency(size1: number, size2: number, reader: HashReader): Uint8Array[] {
  if (!checkConsistencyArgs(size1, size2)) return [];
  const indexes = treeProofIndexes(0, size2, size1, []);
  const out: Uint8Array[] = [];
  treeProof(0, size2, size1, new Cursor(read(reader, indexes)), out);
  return out;
}

/** proveConsistencyAsync is {@link proveConsistency} over an {@link AsyncHashReader}. */
export async function proveConsistencyAsync(size1: number, size2: number, reader: AsyncHashReader): Promise<Uint8Array[]> {
  if (!checkConsistencyArgs(size1, size2)) return [];
  const indexes = treeProofIndexes(0, size2, size1, []);
  const out: Uint8Array[] = [];
  treeProof(0, size2, size1, new Cursor(await readAsync(reader, indexes)), out);
  return out;
}

function checkInclusionArgs(index: number, size: number): void {
  checkSize(size, 'tree size', MAX_STORED_TREE_SIZE);
  checkSize(index, 'leaf index', MAX_STORED_TREE_SIZE);
  if (index >= size) {
    throw new FormatError('ERR_TLOG_RANGE', `expected a leaf index below the tree size ${size}, got ${index}`);
  }
}

/** checkConsistencyArgs validates the sizes and reports whether a non-empty proof is needed. */
function checkConsistencyArgs(size1: number, size2: number): boolean {
  checkSize(size2, 'new tree size', MAX_STORED_TREE_SIZE);
  checkSize(size1, 'old tree size', MAX_STORED_TREE_SIZE);
  if (size1 > size2) {
    throw new FormatError('ERR_TLOG_RANGE', `expected an old size at most the new size ${size2}, got ${size1}`);
  }
  return size1 !== 0 && size1 !== size2;
}

/** Cursor walks the hashes returned by one readHashes call. */
class Cursor {
  pos = 0;
  readonly hashes: Uint8Array[];
  constructor(hashes: Uint8Array[]) {
    this.hashes = hashes;
  }
}

/**
 * maxPow2Level returns floor(log2(n − 1)) for n ≥ 2: the level of the largest power of two strictly below n, i.e. the
 * RFC 6962 split point k = 2^level with k < n ≤ 2k.
 */
function maxPow2Level(n: number): number {
  const m = n - 1;
  if (m <= 0xffffffff) return 31 - Math.clz32(m);
  return 63 - Math.clz32(Math.floor(m / 0x100000000));
}

/** subTreeIndexes appends the stored indexes whose hashes combine into the hash of records [lo, hi). */
function subTreeIndexes(lo: number, hi: number, need: number[]): number[] {
  // Split [lo, hi) into maximal aligned complete subtrees, left to right; each one is a single stored hash.
  while (lo < hi) {
    const level = maxPow2Level(hi - lo + 1);
    const k = 2 ** level;
    need.push(storedIndex(level, lo / k));
    lo += k;
  }
  return need;
}

/** subTreeHash consumes the hashes planned by subTreeIndexes(lo, hi) and returns MTH(D[lo:hi]). */
function subTreeHash(lo: number, hi: number, cur: Cursor): Uint8Array {
  let count = 0;
  while (lo < hi) {
    lo += 2 ** maxPow2Level(hi - lo + 1);
    count++;
  }
  const start = cur.pos;
  cur.pos += count;
  if (cur.pos > cur.hashes.length) throw new Error('tlog: bad math in subTreeHash');
  // The right fringe is combined first: MTH = N(a, N(b, N(c, d))) for subtrees a > b > c > d.
  let h = cur.hashes[start + count - 1]!;
  for (let i = count - 2; i >= 0; i--) h = hashChildren(cur.hashes[start + i]!, h);
  return h;
}

/** leafProofIndexes appends the stored indexes needed by leafProof(lo, hi, n). */
function leafProofIndexes(lo: number, hi: number, n: number, need: number[]): number[] {
  // RFC 6962 §2.1.1: PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n]) for m < k, else PATH(m−k, D[k:n]) : MTH(D[0:k]).
  while (lo + 1 < hi) {
    const k = 2 ** maxPow2Level(hi - lo);
    if (n < lo + k) {
      // Recurse left; the right subtree hash comes after the left path, so plan it after the loop unwinds.
      leafProofIndexes(lo, lo + k, n, need);
      return subTreeIndexes(lo + k, hi, need);
    }
    subTreeIndexes(lo, lo + k, need);
    lo += k;
  }
  return need;
}

/** leafProof consumes the hashes planned by leafProofIndexes and appends the audit path, bottom up, to `out`. */
function leafProof(lo: number, hi: number, n: number, cur: Cursor, out: Uint8Array[]): void {
  if (lo + 1 === hi) return; // reached the leaf: the verifier knows its hash
  const k = 2 ** maxPow2Level(hi - lo);
  if (n < lo + k) {
    leafProof(lo, lo + k, n, cur, out);
    out.push(subTreeHash(lo + k, hi, cur));
  } else {
    const left = subTreeHash(lo, lo + k, cur);
    leafProof(lo + k, hi, n, cur, out);
    out.push(left);
  }
}

/** treeProofIndexes appends the stored indexes needed by treeProof(lo, hi, n). */
function treeProofIndexes(lo: number, hi: number, n: number, need: number[]): number[] {
  // RFC 6962 §2.1.2 SUBPROOF(m, D[n], b).
  if (n === hi) {
    // SUBPROOF(m, D[m], true) = {}; SUBPROOF(m, D[m], false) = {MTH(D[m])}.
    return lo === 0 ? need : subTreeIndexes(lo, hi, need);
  }
  const k = 2 ** maxPow2Level(hi - lo);
  if (n <= lo + k) {
    treeProofIndexes(lo, lo + k, n, need);
    return subTreeIndexes(lo + k, hi, need);
  }
  subTreeIndexes(lo, lo + k, need);
  return treeProofIndexes(lo + k, hi, n, need);
}

/** treeProof consumes the hashes planned by treeProofIndexes and appends the consistency proof to `out`. */
function treeProof(lo: number, hi: number, n: number, cur: Cursor, out: Uint8Array[]): void {
  if (n === hi) {
    if (lo !== 0) out.push(subTreeHash(lo, hi, cur));
    return;
  }
  const k = 2 ** maxPow2Level(hi - lo);
  if (n <= lo + k) {
    // m ≤ k: SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
    treeProof(lo, lo + k, n, cur, out);
    out.push(subTreeHash(lo + k, hi, cur));
  } else {
    // m > k: SUBPROOF(m − k, D[k:n], false) : MTH(D[0:k])
    const left = subTreeHash(lo, lo + k, cur);
    treeProof(lo + k, hi, n, cur, out);
    out.push(left);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Small helpers.

function read(reader: HashReader, indexes: number[]): Uint8Array[] {
  return checkRead(reader.readHashes(indexes), indexes.length);
}

async function readAsync(reader: AsyncHashReader, indexes: number[]): Promise<Uint8Array[]> {
  return checkRead(await reader.readHashes(indexes), indexes.length);
}

/** checkRead enforces the HashReader contract; a violation is a storage bug, reported as a plain Error. */
function checkRead(hashes: Uint8Array[], want: number): Uint8Array[] {
  if (!Array.isArray(hashes) || hashes.length !== want) {
    throw new Error(`tlog: hash reader returned ${Array.isArray(hashes) ? hashes.length : 'no'} hashes, want ${want}`);
  }
  for (const h of hashes) {
    if (!(h instanceof Uint8Array) || h.length !== HASH_BYTES) throw new Error('tlog: hash reader returned a malformed hash');
  }
  return hashes;
}

/** trailingOnes counts the trailing 1 bits of a non-negative safe integer. */
function trailingOnes(n: number): number {
  let c = 0;
  while (n % 2 === 1) {
    n = (n - 1) / 2;
    c++;
  }
  return c;
}

function isPowerOfTwo(n: number): boolean {
  while (n % 2 === 0 && n > 1) n /= 2;
  return n === 1;
}

/** checkSize throws ERR_TLOG_RANGE unless x is an integer in [0, max]. */
function checkSize(x: number, what: string, max: number): void {
  if (typeof x !== 'number' || !Number.isInteger(x) || x < 0 || x > max) {
    throw new FormatError('ERR_TLOG_RANGE', `expected the ${what} to be an integer from 0 to ${max}, got ${String(x)}`);
  }
}

/** checkHash throws ERR_TLOG_HASH_LENGTH unless h is a 32-byte array. */
export function checkHash(h: Uint8Array, what: string): void {
  if (!(h instanceof Uint8Array) || h.length !== HASH_BYTES) {
    const got = h instanceof Uint8Array ? `${h.length} bytes` : typeof h;
    throw new FormatError('ERR_TLOG_HASH_LENGTH', `expected a 32-byte ${what}, got ${got}`);
  }
}

/**
 * checkProof checks the shape of an untrusted proof: an array, at most MAX_PROOF_HASHES long (checked before looking
 * at the hashes, to bound the work: no valid proof in a tree below 2^53 has more than 54), of 32-byte hashes.
 */
function checkProof(proof: readonly Uint8Array[], fail: (why: string) => never): void {
  const list: unknown = proof;
  if (!Array.isArray(list)) throw new FormatError('ERR_TLOG_HASH_LENGTH', 'expected the proof to be an array of hashes');
  if (proof.length > MAX_PROOF_HASHES) fail('is too long');
  for (const p of proof) checkHash(p, 'proof hash');
}

/** bytesEqual compares public values (roots, hashes); no secret is involved, so early exit is fine. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (!(a instanceof Uint8Array) || !(b instanceof Uint8Array) || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
