/**
 * tlog/tile: c2sp.org/tlog-tiles paths (round trips and a negative table), which tiles a growing tree touches, hashes
 * read from tile data, entry bundles, and tileHashReader authenticating tiles against the root.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  hashLeaf,
  proveConsistency,
  proveConsistencyAsync,
  proveInclusion,
  proveInclusionAsync,
  storedHashCount,
  storedHashIndex,
  storedHashes,
  treeHash,
  treeHashAsync,
  verifyInclusion,
  type HashReader,
} from '../../src/tlog/merkle.ts';
import {
  ENTRY_BUNDLE_LEVEL,
  MAX_ENTRY_BUNDLE_BYTES,
  MAX_ENTRY_BYTES,
  TILE_WIDTH,
  encodeEntryBundle,
  formatTilePath,
  hashFromTile,
  parseEntryBundle,
  parseTilePath,
  readTileData,
  tileForStoredHash,
  tileHashAt,
  tileHashReader,
  tileReaderFunc,
  tileStoredIndexes,
  tilesForSize,
  type Tile,
} from '../../src/tlog/tile.ts';
import { assertCode, assertRejectsCode } from '../support/assert.ts';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** A real in-memory log: hashes array indexed by stored index, built with storedHashes. */
class MemoryLog implements HashReader {
  readonly hashes: Uint8Array[] = [];
  size = 0;
  readHashes(indexes: readonly number[]): Uint8Array[] {
    return indexes.map((i) => this.hashes[i]!);
  }
  append(entry: Uint8Array): void {
    for (const h of storedHashes(this.size, hashLeaf(entry), this)) this.hashes.push(h);
    this.size++;
  }
}

const BIG = 70_000; // three tile levels: the spec's own example size
const log = new MemoryLog();
const entryOf = (i: number): Uint8Array => new TextEncoder().encode(`e${i}`);
for (let i = 0; i < BIG; i++) log.append(entryOf(i));

/** tilesAt serves tile data as the log would for a tree of `size` (width clipped by the caller's request). */
function servingReader(counter?: { calls: number; tiles: number }) {
  return tileReaderFunc((tiles) => {
    if (counter) {
      counter.calls++;
      counter.tiles += tiles.length;
    }
    return Promise.resolve(tiles.map((t) => readTileData(t, log)));
  });
}

describe('tile paths', () => {
  test('format and parse round trip, including the spec example', () => {
    const rows: [Tile, string][] = [
      [{ level: 0, index: 1234067, width: 256 }, 'tile/0/x001/x234/067'],
      [{ level: 0, index: 1234067, width: 8 }, 'tile/0/x001/x234/067.p/8'],
      [{ level: 0, index: 0, width: 256 }, 'tile/0/000'],
      [{ level: 1, index: 999, width: 1 }, 'tile/1/999.p/1'],
      [{ level: 1, index: 1000, width: 255 }, 'tile/1/x001/000.p/255'],
      [{ level: 63, index: 5, width: 256 }, 'tile/63/005'],
      [{ level: ENTRY_BUNDLE_LEVEL, index: 0, width: 256 }, 'tile/entries/000'],
      [{ level: ENTRY_BUNDLE_LEVEL, index: 1234067, width: 112 }, 'tile/entries/x001/x234/067.p/112'],
      [{ level: 0, index: Number.MAX_SAFE_INTEGER, width: 256 }, 'tile/0/x009/x007/x199/x254/x740/991'],
    ];
    for (const [tile, path] of rows) {
      assert.equal(formatTilePath(tile), path);
      assert.deepEqual(parseTilePath(path), tile);
    }
    for (let i = 0; i < 2000; i++) {
      const tile = { level: i % 3, index: Math.floor(Math.random() * 2 ** (i % 53)), width: 1 + (i % 256) };
      assert.deepEqual(parseTilePath(formatTilePath(tile)), tile);
    }
  });

  test('negative table: every non-canonical or out-of-range path is refused', () => {
    const bad = [
      '',
      'tile/0/1234', // index not in 3-digit groups
      'tile/0/01', // short group
      'tile/0/x000/001', // leading zero group
      'tile/0/x001/x000', // last group must not have x
      'tile/0/001/002', // non-last group without x
      'tile/0/X001/000', // uppercase X
      'tile/00/000', // leading zero in level
      'tile/64/000', // level above 63
      'tile/-1/000', // negative level spelled out
      'tile/data/000', // Go's old name, not c2sp
      'tile/0/000.p/0', // width 0
      'tile/0/000.p/256', // full width spelled as partial
      'tile/0/000.p/010', // leading zero in width
      'tile/0/000.p/', // missing width
      'tile/0/000.p/5x',
      'tile/entries/000.p/1000',
      '/tile/0/000', // leading slash
      'tile/0/000/', // trailing slash
      'tile//000',
      'tile/0/x009/x007/x199/x254/x740/992', // 2^53
      'tile/0/x999/x999/x999/x999/x999/x999/999', // far above 2^53
      'tile/0/０００', // non-ASCII digits
      'tile/0/000\n',
      'tile/0/' + 'x001/'.repeat(20) + '000', // longer than the cap
    ];
    for (const p of bad) {
      try {
        assertCode(() => parseTilePath(p), 'ERR_TLOG_TILE_PATH', 'FormatError');
      } catch (e) {
        throw new Error(`path ${JSON.stringify(p)}: ${(e as Error).message}`, { cause: e });
      }
    }
    for (const t of [
      { level: 64, index: 0, width: 1 },
      { level: 0, index: -1, width: 1 },
      { level: 0, index: 0, width: 0 },
      { level: 0, index: 0, width: 257 },
      { level: 0, index: 2 ** 53, width: 1 },
      { level: 0.5, index: 0, width: 1 },
    ]) {
      assertCode(() => formatTilePath(t), 'ERR_TLOG_TILE_PATH');
    }
  });
});

describe('tiles of a growing tree', () => {
  test('the spec examples: sizes 70,000 and 256', () => {
    const t = tilesForSize(0, 70_000);
    const count = (l: number, w: number): number => t.filter((x) => x.level === l && x.width === w).length;
    assert.equal(count(0, 256), 273);
    assert.equal(count(0, 112), 1);
    assert.equal(count(1, 256), 1);
    assert.equal(count(1, 17), 1);
    assert.equal(count(2, 1), 1);
    assert.equal(t.length, 277);
    assert.deepEqual(tilesForSize(0, 256), [
      { level: 0, index: 0, width: 256 },
      { level: 1, index: 0, width: 1 },
    ]);
    assert.deepEqual(tilesForSize(5, 5), []);
    assertCode(() => tilesForSize(6, 5), 'ERR_TLOG_RANGE');
  });

  test('tilesForSize(old, new) lists exactly the tiles whose served bytes differ or appear', () => {
    // servedTiles(size): path → bytes of every tile a log of that size serves.
    const served = (size: number): Map<string, string> =>
      new Map(tilesForSize(0, size).map((t) => [formatTilePath({ ...t, width: 256 }) + '#' + t.level, hex(readTileData(t, log))]));
    for (const [a, b] of [
      [0, 1],
      [1, 2],
      [255, 256],
      [256, 257],
      [100, 70_000],
      [65_535, 65_536],
      [65_536, 65_800],
      [69_000, 69_999],
    ] as const) {
      const before = served(a);
      const after = served(b);
      const changed = [...after].filter(([k, v]) => before.get(k) !== v).map(([k]) => k);
      const listed = tilesForSize(a, b).map((t) => formatTilePath({ ...t, width: 256 }) + '#' + t.level);
      assert.deepEqual(listed.sort(), changed.sort(), `${a} → ${b}`);
    }
  });
});

describe('hashes from tile data', () => {
  test('every stored hash of a 2,000-record tree is found in its tile, and ranges are refused', () => {
    const size = 2000;
    const limit = storedHashCount(size);
    const tileData = new Map<string, Uint8Array>();
    for (let x = 0; x < limit; x++) {
      const { tile } = tileForStoredHash(x);
      const full = tilesForSize(0, size).find((t) => t.level === tile.level && t.index === tile.index)!;
      const key = formatTilePath(full);
      if (!tileData.has(key)) tileData.set(key, readTileData(full, log));
      assert.equal(hex(hashFromTile(full, tileData.get(key)!, x)), hex(log.hashes[x]!), `stored hash ${x}`);
    }
    const t0 = { level: 0, index: 0, width: 256 };
    const d0 = readTileData(t0, log);
    assert.equal(hex(tileHashAt(d0, 5)), hex(log.hashes[storedHashIndex(0, 5)]!));
    assert.deepEqual(tileStoredIndexes({ level: 1, index: 0, width: 2 }), [storedHashIndex(8, 0), storedHashIndex(8, 1)]);
    assertCode(() => hashFromTile(t0, d0, storedHashIndex(0, 256)), 'ERR_TLOG_RANGE'); // in the next tile
    assertCode(() => hashFromTile({ level: 0, index: 0, width: 4 }, d0, storedHashIndex(2, 1)), 'ERR_TLOG_RANGE'); // beyond width
    assertCode(() => hashFromTile(t0, d0.subarray(0, 100), 0), 'ERR_TLOG_TILE_INVALID');
    assertCode(() => tileHashAt(d0, 256), 'ERR_TLOG_RANGE');
    assertCode(() => tileStoredIndexes({ level: ENTRY_BUNDLE_LEVEL, index: 0, width: 1 }), 'ERR_TLOG_TILE_PATH');
  });
});

describe('tileHashReader', () => {
  test('proofs from authenticated tiles equal proofs from storage, across tile-level edges', async () => {
    for (const size of [1, 2, 255, 256, 257, 511, 65_535, 65_536, 65_537, BIG]) {
      const root = treeHash(size, log);
      const counter = { calls: 0, tiles: 0 };
      const r = tileHashReader(size, root, servingReader(counter));
      assert.equal(hex(await treeHashAsync(size, r)), hex(root), `size ${size}`);
      for (const i of [0, 1, Math.floor(size / 2), size - 2, size - 1].filter((i) => i >= 0 && i < size)) {
        const p = await proveInclusionAsync(i, size, r);
        assert.deepEqual(p.map(hex), proveInclusion(i, size, log).map(hex), `inclusion ${i}/${size}`);
        verifyInclusion(hashLeaf(entryOf(i)), i, size, p, root);
        assert.deepEqual(
          (await proveConsistencyAsync(i + 1, size, r)).map(hex),
          proveConsistency(i + 1, size, log).map(hex),
          `consistency ${i + 1}→${size}`,
        );
      }
      const calls = counter.calls;
      await proveInclusionAsync(0, size, r);
      assert.equal(counter.calls, calls, 'a repeated proof is served from authenticated cached tiles');
    }
  });

  test('a tampered, short or extra tile is refused before use', async () => {
    const size = BIG;
    const root = treeHash(size, log);
    const tamper = (pred: (t: Tile) => boolean, edit: (d: Uint8Array) => Uint8Array) =>
      tileReaderFunc((tiles) =>
        Promise.resolve(
          tiles.map((t) => {
            const d = readTileData(t, log);
            return pred(t) ? edit(d) : d;
          }),
        ),
      );
    const flipByte = (d: Uint8Array): Uint8Array => {
      const c = Uint8Array.from(d);
      c[40]! ^= 1;
      return c;
    };
    // A full level-0 tile in the middle: caught against its parent tile.
    await assertRejectsCode(
      proveInclusionAsync(1000, size, tileHashReader(size, root, tamper((t) => t.level === 0 && t.index === 3, flipByte))),
      'ERR_TLOG_TILE_INVALID',
    );
    // The level-1 full tile (a parent): caught against the edge tiles and the root.
    await assertRejectsCode(
      proveInclusionAsync(1000, size, tileHashReader(size, root, tamper((t) => t.level === 1 && t.width === 256, flipByte))),
      'ERR_TLOG_TILE_INVALID',
    );
    // A partial edge tile: caught by recomputing the root.
    await assertRejectsCode(
      proveInclusionAsync(size - 1, size, tileHashReader(size, root, tamper((t) => t.level === 0 && t.width === 112, flipByte))),
      'ERR_TLOG_TILE_INVALID',
    );
    // Wrong length, and a reader returning the wrong count.
    await assertRejectsCode(
      proveInclusionAsync(5, size, tileHashReader(size, root, tamper((t) => t.level === 0, (d) => d.subarray(32)))),
      'ERR_TLOG_TILE_INVALID',
    );
    await assertRejectsCode(
      proveInclusionAsync(5, size, tileHashReader(size, root, tileReaderFunc(() => Promise.resolve([])))),
      'ERR_TLOG_TILE_INVALID',
    );
    // Honest tiles against the wrong root.
    const wrongRoot = Uint8Array.from(root);
    wrongRoot[0]! ^= 1;
    await assertRejectsCode(proveInclusionAsync(5, size, tileHashReader(size, wrongRoot, servingReader())), 'ERR_TLOG_TILE_INVALID');
    // Requests outside the tree, and bad arguments.
    await assertRejectsCode(tileHashReader(10, treeHash(10, log), servingReader()).readHashes([storedHashCount(10)]), 'ERR_TLOG_RANGE');
    assertCode(() => tileHashReader(10, root.subarray(1), servingReader()), 'ERR_TLOG_HASH_LENGTH');
    assertCode(() => tileHashReader(-1, root, servingReader()), 'ERR_TLOG_RANGE');
  });
});

describe('entry bundles', () => {
  test('round trip, including empty and maximal entries', () => {
    const entries = [new TextEncoder().encode('hello'), new Uint8Array(0), Uint8Array.of(1, 2, 3), new Uint8Array(MAX_ENTRY_BYTES).fill(7)];
    const b = encodeEntryBundle(entries);
    assert.deepEqual([...b.subarray(0, 12)], [0, 5, 104, 101, 108, 108, 111, 0, 0, 0, 3, 1]);
    assert.deepEqual(parseEntryBundle(b, 4).map(hex), entries.map(hex));
    const full = Array.from({ length: TILE_WIDTH }, (_, i) => entryOf(i));
    assert.deepEqual(parseEntryBundle(encodeEntryBundle(full), 256).map(hex), full.map(hex));
    // The level-0 tile of a bundle holds the RFC 6962 leaf hash of each entry.
    const tile0 = readTileData({ level: 0, index: 0, width: 256 }, log);
    parseEntryBundle(encodeEntryBundle(full)).forEach((e, i) => assert.equal(hex(hashLeaf(e)), hex(tileHashAt(tile0, i))));
  });

  test('malformed bundles are refused with codes', () => {
    const rows: [string, () => unknown, string][] = [
      ['empty bundle', () => parseEntryBundle(new Uint8Array(0)), 'ERR_TLOG_ENTRY_BUNDLE'],
      ['truncated length prefix', () => parseEntryBundle(Uint8Array.of(0)), 'ERR_TLOG_ENTRY_BUNDLE'],
      ['truncated entry', () => parseEntryBundle(Uint8Array.of(0, 5, 1, 2)), 'ERR_TLOG_ENTRY_BUNDLE'],
      ['trailing partial prefix', () => parseEntryBundle(Uint8Array.of(0, 1, 9, 0)), 'ERR_TLOG_ENTRY_BUNDLE'],
      ['width mismatch', () => parseEntryBundle(Uint8Array.of(0, 1, 9), 2), 'ERR_TLOG_ENTRY_BUNDLE'],
      ['bad width', () => parseEntryBundle(Uint8Array.of(0, 1, 9), 0), 'ERR_TLOG_ENTRY_BUNDLE'],
      ['257 entries', () => parseEntryBundle(new Uint8Array(2 * 257)), 'ERR_TLOG_ENTRY_BUNDLE'],
      ['oversized bundle', () => parseEntryBundle(new Uint8Array(MAX_ENTRY_BUNDLE_BYTES + 1)), 'ERR_LIMIT_SIZE'],
      ['encode nothing', () => encodeEntryBundle([]), 'ERR_TLOG_ENTRY_BUNDLE'],
      ['encode 65,536-byte entry', () => encodeEntryBundle([new Uint8Array(MAX_ENTRY_BYTES + 1)]), 'ERR_LIMIT_SIZE'],
      ['encode 257 entries', () => encodeEntryBundle(Array.from({ length: 257 }, () => new Uint8Array(1))), 'ERR_LIMIT_COUNT'],
    ];
    for (const [name, fn, code] of rows) {
      try {
        assertCode(fn, code as 'ERR_TLOG_ENTRY_BUNDLE');
      } catch (e) {
        throw new Error(`row "${name}": ${(e as Error).message}`, { cause: e });
      }
    }
  });
});
