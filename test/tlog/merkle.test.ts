/**
 * tlog/merkle: RFC 6962 hashing, the transparency-dev/merkle vectors (test/vectors/merkle), exhaustive small
 * trees (Go tlog TestTree style), and the stored-hash numbering.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { isTrustError } from '../../src/errors.ts';
import {
  HASH_BYTES,
  MAX_STORED_TREE_SIZE,
  RFC6962_LEAF_HASH_PREFIX,
  RFC6962_NODE_HASH_PREFIX,
  emptyTreeRoot,
  hashChildren,
  hashLeaf,
  hashReaderFunc,
  proveConsistency,
  proveConsistencyAsync,
  proveInclusion,
  proveInclusionAsync,
  splitStoredHashIndex,
  storedHashCount,
  storedHashIndex,
  storedHashes,
  storedHashesAsync,
  treeHash,
  treeHashAsync,
  verifyConsistency,
  verifyInclusion,
  type AsyncHashReader,
  type HashReader,
} from '../../src/tlog/merkle.ts';
import { assertCode } from '../support/assert.ts';
import { vectorPath } from '../support/vectors.ts';

const b64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'));
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** MemoryLog is a minimal in-memory store: an array indexed by stored hash index. */
class MemoryLog implements HashReader {
  readonly hashes: Uint8Array[] = [];
  readonly leaves: Uint8Array[] = [];
  reads = 0;
  readHashes(indexes: readonly number[]): Uint8Array[] {
    this.reads++;
    return indexes.map((i) => {
      const h = this.hashes[i];
      if (!h) throw new Error(`missing stored hash ${i}`);
      return h;
    });
  }
  append(entry: Uint8Array): void {
    const n = this.leaves.length;
    const lh = hashLeaf(entry);
    const fresh = storedHashes(n, lh, this);
    assert.equal(this.hashes.length, storedHashIndex(0, n));
    this.hashes.push(...fresh);
    this.leaves.push(lh);
    assert.equal(this.hashes.length, storedHashCount(n + 1));
  }
}

/** mth is the RFC 6962 §2.1 definition, computed recursively from leaf hashes (the reference). */
function mth(leaves: readonly Uint8Array[]): Uint8Array {
  if (leaves.length === 0) return emptyTreeRoot();
  if (leaves.length === 1) return leaves[0]!;
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return hashChildren(mth(leaves.slice(0, k)), mth(leaves.slice(k)));
}

/** jsonFiles lists every .json file below dir, recursively, in a stable order. */
function jsonFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => join(dir, f));
}

function entry(i: number): Uint8Array {
  return new TextEncoder().encode(`entry ${i}`);
}

function flip(proof: Uint8Array[], i: number): Uint8Array[] {
  const out = proof.map((p) => Uint8Array.from(p));
  out[i]![0]! ^= 1;
  return out;
}

function throwsTrust(fn: () => unknown): boolean {
  try {
    fn();
    return false;
  } catch (e) {
    assert.ok(isTrustError(e), `expected a TrustError, got ${String(e)}`);
    return true;
  }
}

describe('RFC 6962 hashing', () => {
  test('prefixes, leaf, node and empty root', () => {
    assert.deepEqual([...RFC6962_LEAF_HASH_PREFIX], [0]);
    assert.deepEqual([...RFC6962_NODE_HASH_PREFIX], [1]);
    assert.equal(hex(emptyTreeRoot()), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    const e = entry(1);
    assert.equal(hex(hashLeaf(e)), createHash('sha256').update(Buffer.from([0])).update(e).digest('hex'));
    const l = hashLeaf(entry(2));
    const r = hashLeaf(entry(3));
    assert.equal(hex(hashChildren(l, r)), createHash('sha256').update(Buffer.from([1])).update(l).update(r).digest('hex'));
    // RFC 6962 test data (transparency-dev): the leaf hash of the empty entry.
    assert.equal(hex(hashLeaf(new Uint8Array(0))), '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d');
    const root = emptyTreeRoot();
    root[0] = 0;
    assert.notEqual(emptyTreeRoot()[0], 0, 'emptyTreeRoot returns a fresh copy');
  });
});

describe('transparency-dev/merkle vectors', () => {
  const incl = vectorPath('merkle', 'inclusion');
  const cons = vectorPath('merkle', 'consistency');

  test('inclusion vectors give their expected verdict', () => {
    let n = 0;
    let bad = 0;
    for (const f of jsonFiles(incl)) {
      {
        const v = JSON.parse(readFileSync(f, 'utf8')) as {
          leafIdx: number;
          treeSize: number;
          root: string;
          leafHash: string;
          proof: string[] | null;
          wantErr: boolean;
        };
        const threw = throwsTrust(() =>
          verifyInclusion(b64(v.leafHash), v.leafIdx, v.treeSize, (v.proof ?? []).map(b64), b64(v.root)),
        );
        assert.equal(threw, v.wantErr, f);
        n++;
        if (v.wantErr) bad++;
      }
    }
    assert.ok(n > 50 && bad > 40, `read ${n} vectors`);
  });

  test('consistency vectors give their expected verdict', () => {
    let n = 0;
    for (const f of jsonFiles(cons)) {
      {
        const v = JSON.parse(readFileSync(f, 'utf8')) as {
          size1: number;
          size2: number;
          root1: string;
          root2: string;
          proof: string[] | null;
          wantErr: boolean;
        };
        const threw = throwsTrust(() =>
          verifyConsistency(v.size1, v.size2, (v.proof ?? []).map(b64), b64(v.root1), b64(v.root2)),
        );
        assert.equal(threw, v.wantErr, f);
        n++;
      }
    }
    assert.ok(n > 50, `read ${n} vectors`);
  });
});

describe('exhaustive small trees (prove, verify, tamper)', () => {
  const N = 70;
  const log = new MemoryLog();
  const roots: Uint8Array[] = [emptyTreeRoot()];
  for (let i = 0; i < N; i++) {
    log.append(entry(i));
    roots.push(mth(log.leaves));
  }

  test('treeHash matches the recursive RFC 6962 definition for every size', () => {
    for (let size = 0; size <= N; size++) assert.equal(hex(treeHash(size, log)), hex(roots[size]!), `size ${size}`);
  });

  test('every size 1..70, every index: inclusion proves and verifies; tampering fails', () => {
    for (let size = 1; size <= N; size++) {
      for (let i = 0; i < size; i++) {
        const proof = proveInclusion(i, size, log);
        verifyInclusion(log.leaves[i]!, i, size, proof, roots[size]!);
        for (let j = 0; j < proof.length; j++) {
          assertCode(() => verifyInclusion(log.leaves[i]!, i, size, flip(proof, j), roots[size]!), 'ERR_TLOG_INCLUSION_INVALID');
        }
        if (size > 1) {
          const other = (i + 1) % size;
          assertCode(() => verifyInclusion(log.leaves[other]!, i, size, proof, roots[size]!), 'ERR_TLOG_INCLUSION_INVALID');
          assertCode(() => verifyInclusion(log.leaves[i]!, i, size, proof.slice(1), roots[size]!), 'ERR_TLOG_INCLUSION_INVALID');
          assertCode(
            () => verifyInclusion(log.leaves[i]!, i, size, [...proof, proof[0]!], roots[size]!),
            'ERR_TLOG_INCLUSION_INVALID',
          );
        }
        if (i + 1 < size) {
          assertCode(() => verifyInclusion(log.leaves[i]!, i + 1, size, proof, roots[size]!), 'ERR_TLOG_INCLUSION_INVALID');
        }
        assertCode(() => verifyInclusion(log.leaves[i]!, i, size, proof, roots[size - 1]!), 'ERR_TLOG_INCLUSION_INVALID');
      }
    }
  });

  test('every size pair 1 ≤ m ≤ n ≤ 70: consistency proves and verifies; tampering fails', () => {
    for (let n = 1; n <= N; n++) {
      for (let m = 1; m <= n; m++) {
        const proof = proveConsistency(m, n, log);
        verifyConsistency(m, n, proof, roots[m]!, roots[n]!);
        if (m === n) {
          assert.equal(proof.length, 0);
          continue;
        }
        for (let j = 0; j < proof.length; j++) {
          assertCode(() => verifyConsistency(m, n, flip(proof, j), roots[m]!, roots[n]!), 'ERR_TLOG_CONSISTENCY_INVALID');
        }
        assertCode(() => verifyConsistency(m, n, proof, roots[m - 1]!, roots[n]!), 'ERR_TLOG_CONSISTENCY_INVALID');
        assertCode(() => verifyConsistency(m, n, proof, roots[m]!, roots[n - 1]!), 'ERR_TLOG_CONSISTENCY_INVALID');
        assertCode(() => verifyConsistency(m, n, proof.slice(0, -1), roots[m]!, roots[n]!), 'ERR_TLOG_CONSISTENCY_INVALID');
        assertCode(
          () => verifyConsistency(m, n, [...proof, proof[0]!], roots[m]!, roots[n]!),
          'ERR_TLOG_CONSISTENCY_INVALID',
        );
      }
    }
  });

  test('consistency from size 0 is an empty proof; verifying it is refused as meaningless', () => {
    assert.deepEqual(proveConsistency(0, 5, log), []);
    assert.deepEqual(proveConsistency(0, 0, log), []);
    assertCode(() => verifyConsistency(0, 5, [], roots[0]!, roots[5]!), 'ERR_TLOG_RANGE', 'FormatError');
  });

  test('async variants agree with the sync ones', async () => {
    const areader: AsyncHashReader = { readHashes: (ix) => Promise.resolve(log.readHashes(ix)) };
    for (const size of [1, 2, 7, 16, 33, 70]) {
      assert.equal(hex(await treeHashAsync(size, areader)), hex(roots[size]!));
      for (let i = 0; i < size; i += 5) {
        assert.deepEqual((await proveInclusionAsync(i, size, areader)).map(hex), proveInclusion(i, size, log).map(hex));
        assert.deepEqual((await proveConsistencyAsync(i + 1, size, areader)).map(hex), proveConsistency(i + 1, size, log).map(hex));
      }
    }
    const fresh = new MemoryLog();
    for (let i = 0; i < 20; i++) {
      const viaAsync = await storedHashesAsync(i, hashLeaf(entry(i)), { readHashes: (ix) => Promise.resolve(fresh.readHashes(ix)) });
      assert.deepEqual(viaAsync.map(hex), storedHashes(i, hashLeaf(entry(i)), fresh).map(hex));
      fresh.append(entry(i));
    }
  });

  test('storedHashes reads nothing for even record numbers', () => {
    const before = log.reads;
    storedHashes(N, hashLeaf(entry(N)), log); // N = 70, even
    assert.equal(log.reads, before);
  });
});

describe('malformed input is refused with codes', () => {
  const h = new Uint8Array(HASH_BYTES);
  test('inclusion argument table', () => {
    const rows: [string, () => unknown, string][] = [
      ['index = size', () => verifyInclusion(h, 3, 3, [], h), 'ERR_TLOG_RANGE'],
      ['negative index', () => verifyInclusion(h, -1, 3, [], h), 'ERR_TLOG_RANGE'],
      ['fractional size', () => verifyInclusion(h, 0, 1.5, [], h), 'ERR_TLOG_RANGE'],
      ['size above 2^53−1', () => verifyInclusion(h, 0, 2 ** 53, [], h), 'ERR_TLOG_RANGE'],
      ['NaN index', () => verifyInclusion(h, NaN, 3, [], h), 'ERR_TLOG_RANGE'],
      ['short leaf hash', () => verifyInclusion(h.subarray(1), 0, 3, [], h), 'ERR_TLOG_HASH_LENGTH'],
      ['long proof hash', () => verifyInclusion(h, 0, 3, [new Uint8Array(33)], h), 'ERR_TLOG_HASH_LENGTH'],
      ['65-hash inclusion proof', () => verifyInclusion(h, 0, 3, new Array<Uint8Array>(65).fill(h), h), 'ERR_TLOG_INCLUSION_INVALID'],
      ['million-hash proof, refused before hashing', () => verifyInclusion(h, 0, 3, new Array<Uint8Array>(1e6).fill(h), h), 'ERR_TLOG_INCLUSION_INVALID'],
      ['65-hash consistency proof', () => verifyConsistency(1, 3, new Array<Uint8Array>(65).fill(h), h, h), 'ERR_TLOG_CONSISTENCY_INVALID'],
      ['size1 > size2', () => verifyConsistency(4, 3, [], h, h), 'ERR_TLOG_RANGE'],
      ['consistency bad proof hash', () => verifyConsistency(1, 3, [new Uint8Array(31)], h, h), 'ERR_TLOG_HASH_LENGTH'],
      ['prove index ≥ size', () => proveInclusion(5, 5, hashReaderFunc(() => [])), 'ERR_TLOG_RANGE'],
      ['prove size1 > size2', () => proveConsistency(6, 5, hashReaderFunc(() => [])), 'ERR_TLOG_RANGE'],
      ['prove beyond the stored cap', () => proveInclusion(0, MAX_STORED_TREE_SIZE + 1, hashReaderFunc(() => [])), 'ERR_TLOG_RANGE'],
      ['storedHashes with short hash', () => storedHashes(0, h.subarray(2), hashReaderFunc(() => [])), 'ERR_TLOG_HASH_LENGTH'],
      ['storedHashIndex bad level', () => storedHashIndex(53, 0), 'ERR_TLOG_RANGE'],
      ['storedHashIndex beyond cap', () => storedHashIndex(1, 2 ** 51), 'ERR_TLOG_RANGE'],
    ];
    for (const [name, fn, code] of rows) {
      try {
        assertCode(fn, code as 'ERR_TLOG_RANGE');
      } catch (e) {
        throw new Error(`row "${name}": ${(e as Error).message}`, { cause: e });
      }
    }
  });

  test('verification handles sizes near 2^53 without precision loss', () => {
    // A right-border leaf of a huge tree: the proof has the right shape only if the arithmetic is exact.
    const size = Number.MAX_SAFE_INTEGER;
    assertCode(() => verifyInclusion(h, size - 1, size, [], h), 'ERR_TLOG_INCLUSION_INVALID');
    assertCode(() => verifyConsistency(size - 1, size, [h], h, h), 'ERR_TLOG_CONSISTENCY_INVALID');
  });

  test('a hash reader that breaks its contract is a bug (plain Error)', () => {
    assert.throws(() => treeHash(3, hashReaderFunc(() => [])), (e: unknown) => e instanceof Error && !isTrustError(e));
    assert.throws(
      () => treeHash(1, hashReaderFunc(() => [new Uint8Array(5)])),
      (e: unknown) => e instanceof Error && !isTrustError(e),
    );
  });
});

describe('stored hash numbering', () => {
  test('storedHashIndex matches the documented layout and splitStoredHashIndex inverts it', () => {
    // 0:L0 1:L1 2:N(0,1) 3:L2 4:L3 5:N(2,3) 6:N(0..3) 7:L4
    assert.deepEqual(
      [storedHashIndex(0, 0), storedHashIndex(0, 1), storedHashIndex(1, 0), storedHashIndex(0, 2), storedHashIndex(0, 3)],
      [0, 1, 2, 3, 4],
    );
    assert.deepEqual([storedHashIndex(1, 1), storedHashIndex(2, 0), storedHashIndex(0, 4)], [5, 6, 7]);
    for (let level = 0; level < 10; level++) {
      for (let n = 0; n < 300; n++) {
        const x = storedHashIndex(level, n);
        assert.deepEqual(splitStoredHashIndex(x), { level, n });
      }
    }
  });

  test('large indexes stay exact: a tree of 2^52 records has 2^53−1 stored hashes', () => {
    assert.equal(storedHashCount(MAX_STORED_TREE_SIZE), Number.MAX_SAFE_INTEGER);
    const x = storedHashIndex(0, MAX_STORED_TREE_SIZE - 1);
    assert.deepEqual(splitStoredHashIndex(x), { level: 0, n: MAX_STORED_TREE_SIZE - 1 });
    assert.deepEqual(splitStoredHashIndex(storedHashIndex(52, 0)), { level: 52, n: 0 });
    assert.deepEqual(splitStoredHashIndex(storedHashIndex(20, 12345)), { level: 20, n: 12345 });
  });

  test('proofs for a huge sparse tree only read the hashes they need', () => {
    // Fake storage that synthesizes a hash per index: checks plans and assembly stay in step at 2^40 records.
    const reader = hashReaderFunc((ix) => ix.map((i) => createHash('sha256').update(String(i)).digest()));
    const size = 2 ** 40 + 12345;
    // The right subtree has 12345 = 0b11000000111001 leaves: the last leaf's path is its 6 one-bits, minus itself,
    // plus the 2^40 left subtree.
    assert.equal(proveInclusion(size - 1, size, reader).length, 6);
    assert.equal(proveInclusion(0, size, reader).length, 41);
    const c = proveConsistency(2 ** 39 + 3, size, reader);
    assert.ok(c.length > 0 && c.length <= 2 * 41, `consistency proof of ${c.length} hashes`);
  });
});
