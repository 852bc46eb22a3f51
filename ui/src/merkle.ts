/**
 * ui/merkle — RFC 6962 / RFC 9162 §2.1 Merkle tree verification for the browser: leaf and node hashes, inclusion
 * proofs (RFC 9162 §2.1.3.2) and consistency proofs (§2.1.4.2). Mirrors src/tlog/merkle.ts verifyInclusion and
 * verifyConsistency, and is tested against the same transparency-dev/merkle vectors (test/ui).
 */
import { UiError } from './errors.ts';
import { concat, equal, sha256 } from './bytes.ts';

/** leafHash is SHA-256(0x00 ‖ entry). */
export function leafHash(entry: Uint8Array): Promise<Uint8Array> {
  return sha256(concat(Uint8Array.of(0), entry));
}

function node(l: Uint8Array, r: Uint8Array): Promise<Uint8Array> {
  return sha256(concat(Uint8Array.of(1), l, r));
}

function checkHashes(hs: readonly Uint8Array[]): void {
  if (hs.length > 64) throw new UiError('proof too long');
  for (const h of hs) if (h.length !== 32) throw new UiError('proof hash is not 32 bytes');
}

/**
 * rootFromInclusion computes the root of a tree of `size` leaves from a leaf hash at `index` and its inclusion proof
 * (RFC 9162 §2.1.3.2); throws when the proof has the wrong shape.
 */
export async function rootFromInclusion(leaf: Uint8Array, index: number, size: number, proof: readonly Uint8Array[]): Promise<Uint8Array> {
  checkHashes([...proof, leaf]);
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) throw new UiError('index outside the tree');
  // BigInt: the shifts below must not wrap at 2^32.
  let fn = BigInt(index);
  let sn = BigInt(size - 1);
  let r = leaf;
  for (const p of proof) {
    if (sn === 0n) throw new UiError('inclusion proof too long');
    if ((fn & 1n) === 1n || fn === sn) {
      r = await node(p, r);
      if ((fn & 1n) === 0n) while ((fn & 1n) === 0n && fn !== 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else r = await node(r, p);
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw new UiError('inclusion proof too short');
  return r;
}

/** verifyInclusion is true when the proof places `leaf` at `index` of the tree with `root`. */
export async function verifyInclusion(leaf: Uint8Array, index: number, size: number, proof: readonly Uint8Array[], root: Uint8Array): Promise<boolean> {
  try {
    return equal(await rootFromInclusion(leaf, index, size, proof), root);
  } catch {
    return false;
  }
}

/** verifyConsistency is true when the proof shows the tree (size1 ≥ 1, root1) is a prefix of (size2, root2). */
export async function verifyConsistency(
  size1: number,
  size2: number,
  proof: readonly Uint8Array[],
  root1: Uint8Array,
  root2: Uint8Array,
): Promise<boolean> {
  try {
    checkHashes(proof);
    // As src/tlog/merkle.ts: a proof from the empty tree is meaningless (the caller handles size 0 itself).
    if (!Number.isSafeInteger(size1) || !Number.isSafeInteger(size2) || size1 < 1 || size2 < size1) return false;
    if (size1 === size2) return proof.length === 0 && equal(root1, root2);
    if (proof.length === 0) return false;
    const path = [...proof];
    // RFC 9162 §2.1.4.2 step 2: a first tree of 2^k leaves is itself a node of the second: prepend its hash.
    const s1 = BigInt(size1);
    if ((s1 & (s1 - 1n)) === 0n) path.unshift(root1);
    let fn = BigInt(size1 - 1);
    let sn = BigInt(size2 - 1);
    while ((fn & 1n) === 1n) {
      fn >>= 1n;
      sn >>= 1n;
    }
    let fr = path[0]!;
    let sr = path[0]!;
    for (const c of path.slice(1)) {
      if (sn === 0n) return false;
      if ((fn & 1n) === 1n || fn === sn) {
        fr = await node(c, fr);
        sr = await node(c, sr);
        if ((fn & 1n) === 0n) while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      } else sr = await node(sr, c);
      fn >>= 1n;
      sn >>= 1n;
    }
    return sn === 0n && equal(fr, root1) && equal(sr, root2);
  } catch {
    return false;
  }
}
