/**
 * fuzz/targets/tlog — Merkle proof verification (src/tlog/merkle.ts) against recomputing the tree from the leaves,
 * tile data authenticated by tileHashReader, tile paths, and entry bundles (src/tlog/tile.ts).
 */
import fc from 'fast-check';
import { sha256 } from '../../src/crypto/index.ts';
import { hashChildren, hashLeaf, storedHashes, verifyConsistency, verifyInclusion, hashReaderFunc, proveInclusion, proveInclusionAsync } from '../../src/tlog/merkle.ts';
import { encodeEntryBundle, formatTilePath, parseEntryBundle, parseTilePath, tileHashReader, tileReaderFunc, tilesForSize, readTileData, hashFromTile } from '../../src/tlog/tile.ts';
import { isTrustError } from '../../src/errors.ts';
import { enc, expectSame, OracleMismatch, type FuzzTarget } from '../target.ts';
import { withTail } from '../structured.ts';

const MAX_LEAVES = 300;

/** Ref is the reference tree: RFC 9162 §2.1.1 MTH computed straight from the leaves, independent of src/tlog. */
class Ref {
  readonly leaves: Uint8Array[];
  readonly #memo = new Map<string, Uint8Array>();
  constructor(n: number) {
    this.leaves = Array.from({ length: n }, (_, i) => sha256(Uint8Array.of(0, i & 0xff, i >> 8)));
  }
  // MTH(D[lo:hi]) with k the largest power of two below hi-lo.
  mth(lo: number, hi: number): Uint8Array {
    if (hi - lo === 1) return this.leaves[lo]!;
    const key = `${lo}:${hi}`;
    const hit = this.#memo.get(key);
    if (hit) return hit;
    let k = 1;
    while (k * 2 < hi - lo) k *= 2;
    const h = hashChildren(this.mth(lo, lo + k), this.mth(lo + k, hi));
    this.#memo.set(key, h);
    return h;
  }
  // RFC 9162 §2.1.3.1 PATH(m, D[lo:hi]).
  path(m: number, lo: number, hi: number): Uint8Array[] {
    if (hi - lo === 1) return [];
    let k = 1;
    while (k * 2 < hi - lo) k *= 2;
    return m < k ? [...this.path(m, lo, lo + k), this.mth(lo + k, hi)] : [...this.path(m - k, lo + k, hi), this.mth(lo, lo + k)];
  }
  // RFC 9162 §2.1.4.1 SUBPROOF(m, D[lo:hi], b).
  subproof(m: number, lo: number, hi: number, b: boolean): Uint8Array[] {
    const n = hi - lo;
    if (m === n) return b ? [] : [this.mth(lo, hi)];
    let k = 1;
    while (k * 2 < n) k *= 2;
    return m <= k ? [...this.subproof(m, lo, lo + k, b), this.mth(lo + k, hi)] : [...this.subproof(m - k, lo + k, hi, false), this.mth(lo, lo + k)];
  }
}

const same = (a: readonly Uint8Array[], b: readonly Uint8Array[]): boolean => a.length === b.length && a.every((x, i) => Buffer.from(x).equals(b[i]!));

/**
 * Input layout: [mode][n hi][n lo][i hi][i lo][edit][edit args…]. mode even = inclusion of leaf i in a tree of n,
 * odd = consistency from size i to n. The reference proof is edited (flip, drop, add, replace root or leaf, raw
 * hashes from the args) and the verdict of src/tlog must be: accepted exactly when the edited inputs equal the
 * reference ones (proofs are unique for a given index and size).
 */
export const merkle: FuzzTarget = {
  name: 'merkle',
  parses: 'inclusion/consistency proofs vs the tree recomputed from the leaves',
  make() {
    const ref = new Ref(MAX_LEAVES);
    const valid = (mode: number, n: number, i: number, edit: number): Uint8Array => Uint8Array.of(mode, n >> 8, n & 0xff, i >> 8, i & 0xff, edit, 1, 2, 3);
    const seeds = [valid(0, 7, 3, 0), valid(1, 7, 3, 0), valid(0, 256, 255, 0), valid(1, 257, 256, 0), valid(0, 1, 0, 0), valid(1, 300, 1, 0)];
    return Promise.resolve({
      seeds,
      structured: withTail(
        fc.tuple(fc.nat(1), fc.integer({ min: 0, max: MAX_LEAVES + 2 }), fc.integer({ min: 0, max: MAX_LEAVES + 2 }), fc.nat(9), fc.uint8Array({ maxLength: 70 })).map(([mode, n, i, edit, args]) => {
          const out = new Uint8Array(6 + args.length);
          out.set([mode, n >> 8, n & 0xff, i >> 8, i & 0xff, edit]);
          out.set(args, 6);
          return out;
        }),
      ),
      run(input: Uint8Array) {
        if (input.length < 6) return undefined;
        const mode = input[0]! & 1;
        const n = (input[1]! << 8) | input[2]!;
        const i = (input[3]! << 8) | input[4]!;
        const edit = input[5]! % 10;
        const args = input.subarray(6);
        const inTree = n >= 1 && n <= MAX_LEAVES;
        if (mode === 0) {
          const okShape = inTree && i < n;
          const proof = okShape ? ref.path(i, 0, n) : [];
          const root = inTree ? ref.mth(0, n) : new Uint8Array(32);
          const { p, r, l } = editProof(proof, root, okShape ? ref.leaves[i]! : new Uint8Array(32), edit, args);
          const accepted = verdict(() => verifyInclusion(l, i, n, p, r));
          const truth = okShape && same(p, proof) && Buffer.from(r).equals(root) && Buffer.from(l).equals(ref.leaves[i]!);
          if (accepted !== truth) throw new OracleMismatch(`verifyInclusion ${accepted ? 'accepted' : 'refused'} leaf ${i} of ${n}; the recomputed tree says ${truth}`);
          if (!accepted) throw refusal;
          return accepted;
        }
        const okShape = inTree && i >= 1 && i <= n;
        const proof = okShape ? ref.subproof(i, 0, n, true) : [];
        const root2 = inTree ? ref.mth(0, n) : new Uint8Array(32);
        const root1 = okShape ? ref.mth(0, i) : new Uint8Array(32);
        const { p, r, l } = editProof(proof, root2, root1, edit, args);
        const accepted = verdict(() => verifyConsistency(i, n, p, l, r));
        // Equal sizes: consistent exactly when the proof is empty and the two roots are equal, whatever the tree.
        const truth = i === n ? p.length === 0 && Buffer.from(r).equals(l) : okShape && same(p, proof) && Buffer.from(r).equals(root2) && Buffer.from(l).equals(root1);
        // Size 0 is consistent with any tree; the reference does not model it.
        if (accepted !== truth && i !== 0) throw new OracleMismatch(`verifyConsistency ${accepted ? 'accepted' : 'refused'} ${i} → ${n}; the recomputed tree says ${truth}`);
        if (!accepted) throw refusal;
        return accepted;
      },
    });
  },
};

/** verdict runs a verification: true when it passes, false for a coded refusal (kept in `refusal` to rethrow). */
let refusal: unknown;
function verdict(f: () => void): boolean {
  try {
    f();
    return true;
  } catch (e) {
    if (!isTrustError(e)) throw e;
    refusal = e;
    return false;
  }
}

function editProof(proof: Uint8Array[], root: Uint8Array, leaf: Uint8Array, edit: number, args: Uint8Array): { p: Uint8Array[]; r: Uint8Array; l: Uint8Array } {
  const p: Uint8Array[] = proof.map((h) => Uint8Array.from(h));
  let r = root;
  let l = leaf;
  const a0 = args[0] ?? 0;
  const chunk = (): Uint8Array => {
    const c = new Uint8Array(32);
    c.set(args.subarray(1, 33));
    return c;
  };
  switch (edit) {
    case 1:
      if (p.length > 0) {
        const h = p[a0 % p.length]!;
        h[(args[1] ?? 0) % 32] = h[(args[1] ?? 0) % 32]! ^ (1 << a0 % 8);
      }
      break;
    case 2:
      if (p.length > 0) p.splice(a0 % p.length, 1);
      break;
    case 3:
      p.splice(a0 % (p.length + 1), 0, chunk());
      break;
    case 4:
      r = chunk();
      break;
    case 5:
      l = chunk();
      break;
    case 6:
      if (p.length > 1) p.reverse();
      break;
    case 7: // raw proof from the args, any lengths
      p.length = 0;
      for (let o = 1; o < args.length; o += 1 + (a0 % 40)) p.push(args.subarray(o, o + 1 + (a0 % 40)));
      break;
    case 8:
      r = args.subarray(1);
      break;
    default:
      break;
  }
  return { p, r, l };
}

/**
 * tiles: a tiled tree of 600 entries served by a tile reader whose answer for one tile is replaced by the input;
 * proofs through tileHashReader must come out equal to the true ones or be refused with a code. The first input line
 * also goes through parseTilePath (and formatTilePath must round-trip what it accepts).
 */
export const tiles: FuzzTarget = {
  name: 'tiles',
  parses: 'tile paths and tile data authenticated by tileHashReader',
  async make() {
    const N = 600;
    const stored: Uint8Array[] = [];
    const leaves = Array.from({ length: N }, (_, i) => hashLeaf(enc.encode(`entry ${i}`)));
    const reader = hashReaderFunc((ix) => ix.map((x) => stored[x]!));
    for (let i = 0; i < N; i++) stored.push(...storedHashes(i, leaves[i]!, reader));
    const all = tilesForSize(0, N);
    const real = all.map((t) => readTileData(t, reader));
    const root = (await import('../../src/tlog/merkle.ts')).treeHash(N, reader);
    const truth = [5, 255, 256, 599].map((i) => proveInclusion(i, N, reader));
    const seeds = all.map((t, k) => {
      const head = enc.encode(`${formatTilePath(t)}\n`);
      const out = new Uint8Array(head.length + real[k]!.length);
      out.set(head);
      out.set(real[k]!, head.length);
      return out;
    });
    return {
      seeds,
      async run(input: Uint8Array) {
        const nl = input.indexOf(0x0a);
        const pathText = new TextDecoder().decode(input.subarray(0, nl < 0 ? Math.min(input.length, 80) : Math.min(nl, 80)));
        const data = nl < 0 ? input : input.subarray(nl + 1);
        let target = all[0]!;
        try {
          const t = parseTilePath(pathText);
          expectSame(formatTilePath(t) === pathText, `formatTilePath(parseTilePath(${JSON.stringify(pathText)})) differs`);
          target = all.find((x) => x.level === t.level && x.index === t.index) ?? target;
          if (t.level >= 0 && data.length >= t.width * 32) hashFromTile(t, data, (input[0]! * 7) % 1000);
        } catch (e) {
          if (!isTrustError(e)) throw e;
        }
        const thr = tileHashReader(N, root, tileReaderFunc((ts) => Promise.resolve(ts.map((t) => (t.level === target.level && t.index === target.index ? data.subarray(0, t.width * 32) : real[all.findIndex((x) => x.level === t.level && x.index === t.index)]!.subarray(0, t.width * 32))))));
        const got = await Promise.all([5, 255, 256, 599].map((i) => proveInclusionAsync(i, N, thr)));
        got.forEach((p, k) => expectSame(same(p, truth[k]!), 'a proof through tampered tiles differs from the true proof'));
      },
    };
  },
};

/** entryBundle: parseEntryBundle refuses or splits; what it accepts re-encodes to the same bytes. */
export const entryBundle: FuzzTarget = {
  name: 'entry-bundle',
  parses: 'entry bundles (tlog-tiles) and their re-encoding',
  make() {
    const seeds = [encodeEntryBundle([enc.encode('a'), enc.encode('bb'), new Uint8Array(300)]), encodeEntryBundle(Array.from({ length: 256 }, (_, i) => enc.encode(`entry ${i}`)))];
    return Promise.resolve({
      seeds,
      structured: fc.array(fc.uint8Array({ maxLength: 64 }), { minLength: 1, maxLength: 260 }).map((es) => {
        try {
          return encodeEntryBundle(es);
        } catch {
          return new Uint8Array(0);
        }
      }),
      run(input: Uint8Array) {
        const width = input.length % 3 === 0 ? undefined : (input[0] ?? 0) + 1;
        const es = parseEntryBundle(input, width);
        expectSame(Buffer.from(encodeEntryBundle(es)).equals(input), 'entry bundle does not re-encode to its bytes');
        return es;
      },
    });
  },
};
