/**
 * tlog/tile — C2SP tlog-tiles (c2sp.org/tlog-tiles): tile addressing, tile data, entry bundles, and a hash reader
 * that serves proofs from fetched tiles after authenticating them against a signed tree root. The structure follows
 * golang.org/x/mod/sumdb/tlog tile.go (BSD-3-Clause), reimplemented; see NOTICE.
 *
 * A tile at level L (0 ≤ L ≤ 63), index N, width W (1 ≤ W ≤ 256) is the concatenation of W 32-byte Merkle tree
 * hashes at tree level 8·L, namely MTH(D[(N·256 + i)·256^L : (N·256 + i + 1)·256^L]) for i in [0, W). A full tile
 * has W = 256 (8,192 bytes); the rightmost tile of each level is partial (W < 256) until it fills up. Paths:
 * ```
 * tile/<L>/<N>[.p/<W>]           hash tile       e.g. tile/0/x001/x234/067.p/8  (L=0, N=1234067, W=8)
 * tile/entries/<N>[.p/<W>]       entry bundle    e.g. tile/entries/000          (N=0, full)
 * ```
 * `<L>` and `<W>` are decimal without leading zeros; `<N>` is split into 3-digit groups, every group but the last
 * prefixed with `x`. An entry bundle is modelled as a tile at level {@link ENTRY_BUNDLE_LEVEL} (−1, as in Go's tlog).
 *
 * Entry bundle (c2sp.org/tlog-tiles "Log entries"): W entries, each a big-endian uint16 length then that many bytes:
 * ```
 * 00 05 'h' 'e' 'l' 'l' 'o'   00 00   00 03 0x01 0x02 0x03        (3 entries: "hello", "", 010203)
 * ```
 * A future version may add other bundle formats at other paths; this module parses exactly this one.
 *
 * Trust boundary: paths and bundles from the network are parsed strictly (one canonical spelling per tile, a size cap
 * before parsing). Tiles from a {@link TileReader} are untrusted until {@link tileHashReader} has checked them against
 * the tree root of a verified checkpoint; only then are hashes served from them.
 */
import { FormatError, LimitError, VerificationError } from '../errors.ts';
import {
  HASH_BYTES,
  MAX_STORED_TREE_SIZE,
  bytesEqual,
  checkHash,
  hashChildren,
  splitStoredHashIndex,
  storedHashCount,
  storedHashIndex,
  type AsyncHashReader,
  type HashReader,
} from './merkle.ts';

/** TILE_HEIGHT is the number of tree levels a tile spans (c2sp.org/tlog-tiles fixes 8). */
export const TILE_HEIGHT = 8;

/** TILE_WIDTH is the number of hashes (or entries) in a full tile, 2^TILE_HEIGHT = 256. */
export const TILE_WIDTH = 256;

/** ENTRY_BUNDLE_LEVEL is the `level` that denotes an entry bundle (`tile/entries/…`) rather than a hash tile. */
export const ENTRY_BUNDLE_LEVEL = -1;

/** MAX_TILE_LEVEL is the highest level a tile path may name (c2sp.org/tlog-tiles: 0 to 63). */
export const MAX_TILE_LEVEL = 63;

/** MAX_ENTRY_BYTES is the largest entry an entry bundle can hold (uint16 length prefix). */
export const MAX_ENTRY_BYTES = 65_535;

/** MAX_ENTRY_BUNDLE_BYTES caps a bundle before parsing: 256 entries of 2 + 65,535 bytes. */
export const MAX_ENTRY_BUNDLE_BYTES = TILE_WIDTH * (2 + MAX_ENTRY_BYTES);

/** MAX_TILE_PATH_CHARS caps a tile path before parsing; the longest valid path is 47 characters. */
export const MAX_TILE_PATH_CHARS = 64;

/** Tile names one tile (or entry bundle) of a tiled log. */
export interface Tile {
  /** level: 0..63 for hash tiles (hashes at tree level 8·level); {@link ENTRY_BUNDLE_LEVEL} for entry bundles. */
  readonly level: number;
  /** index: 0..2^53−1, the tile's position within its level. */
  readonly index: number;
  /** width: 1..256 hashes or entries; 256 is a full tile, fewer a partial one. */
  readonly width: number;
}

/**
 * TileReader fetches tiles for {@link tileHashReader}.
 *
 * Duties: `readTiles(tiles)` resolves to one byte array per requested tile, in the same order, each exactly
 * `width × 32` bytes (a reader that falls back to the full tile when a partial one is gone must return only its first
 * `width × 32` bytes). The data is untrusted: the caller authenticates it. Reject (any error; `IoError('ERR_IO_NETWORK')`
 * for transport failures) rather than resolve with fewer arrays. Requests may be issued concurrently.
 */
export interface TileReader {
  readTiles(tiles: readonly Tile[]): Promise<Uint8Array[]>;
}

/** tileReaderFunc adapts a function to a {@link TileReader}. */
export function tileReaderFunc(fn: (tiles: readonly Tile[]) => Promise<Uint8Array[]>): TileReader {
  return { readTiles: fn };
}

// ---------------------------------------------------------------------------------------------------------------
// Paths.

const TILE_PATH_RE = /^tile\/(entries|0|[1-9][0-9]?)\/((?:x[0-9]{3}\/)*[0-9]{3})(?:\.p\/([1-9][0-9]{0,2}))?$/;

/**
 * formatTilePath returns the c2sp.org/tlog-tiles path of a tile, e.g. `tile/0/x001/x234/067.p/8`.
 *
 * @example
 * formatTilePath({ level: 0, index: 1234067, width: 8 }); // 'tile/0/x001/x234/067.p/8'
 */
export function formatTilePath(tile: Tile): string {
  checkTile(tile);
  // c2sp.org/tlog-tiles: <L> decimal, or "entries" for entry bundles.
  const level = tile.level === ENTRY_BUNDLE_LEVEL ? 'entries' : String(tile.level);
  // c2sp.org/tlog-tiles: <N> in zero-padded 3-digit elements, all but the last starting with "x".
  let n = tile.index;
  let index = String(n % 1000).padStart(3, '0');
  for (n = Math.floor(n / 1000); n > 0; n = Math.floor(n / 1000)) index = `x${String(n % 1000).padStart(3, '0')}/${index}`;
  // c2sp.org/tlog-tiles: ".p/<W>" only for partial tiles.
  return `tile/${level}/${index}${tile.width === TILE_WIDTH ? '' : `.p/${tile.width}`}`;
}

/**
 * parseTilePath parses a tile or entry bundle path; anything but the one canonical spelling throws
 * `FormatError('ERR_TLOG_TILE_PATH')` (leading zero groups such as `x000/001`, level 64, width 0 or 256 …).
 */
export function parseTilePath(path: string): Tile {
  const fail = (why: string): never => {
    throw new FormatError('ERR_TLOG_TILE_PATH', `invalid tile path: ${why}`);
  };
  // Size cap before any parsing: the path comes from a URL.
  if (typeof path !== 'string') return fail('expected a string');
  if (path.length > MAX_TILE_PATH_CHARS) return fail(`longer than ${MAX_TILE_PATH_CHARS} characters`);
  const m = TILE_PATH_RE.exec(path);
  if (!m) return fail('expected tile/<L>/<N>[.p/<W>] or tile/entries/<N>[.p/<W>]');
  const level = m[1] === 'entries' ? ENTRY_BUNDLE_LEVEL : Number(m[1]);
  if (level > MAX_TILE_LEVEL) return fail(`level above ${MAX_TILE_LEVEL}`);
  const digits = m[2]!.replace(/[x/]/g, '');
  if (digits.length > 18) return fail('tile index above 2^53−1'); // 6 groups; the regex already bounds the path
  const index = Number(digits);
  if (!Number.isSafeInteger(index)) return fail('tile index above 2^53−1');
  const width = m[3] === undefined ? TILE_WIDTH : Number(m[3]);
  // c2sp.org/tlog-tiles: a partial width is 1 to 255 (a full tile carries no .p suffix).
  if (m[3] !== undefined && width >= TILE_WIDTH) return fail('partial width must be 1 to 255');
  const tile: Tile = { level, index, width };
  // One spelling per tile: the index groups must be exactly what formatTilePath writes (no x000 leading groups).
  if (formatTilePath(tile) !== path) return fail('non-canonical index');
  return tile;
}

function checkTile(tile: Tile): void {
  const { level, index, width } = tile;
  if (!Number.isInteger(level) || level < ENTRY_BUNDLE_LEVEL || level > MAX_TILE_LEVEL) {
    throw new FormatError('ERR_TLOG_TILE_PATH', `expected a tile level from -1 to 63, got ${String(level)}`);
  }
  if (!Number.isSafeInteger(index) || index < 0) {
    throw new FormatError('ERR_TLOG_TILE_PATH', `expected a tile index from 0 to 2^53−1, got ${String(index)}`);
  }
  if (!Number.isInteger(width) || width < 1 || width > TILE_WIDTH) {
    throw new FormatError('ERR_TLOG_TILE_PATH', `expected a tile width from 1 to 256, got ${String(width)}`);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Which tiles exist, and which hashes they hold.

/**
 * tilesForSize returns the hash tiles that a tree growing from `oldSize` to `newSize` records creates or extends,
 * lowest level first: the full tiles completed since oldSize and the partial tile at the right edge of each level.
 * The level-0 tiles in the list name the entry bundles to write too (same index and width, level −1).
 */
export function tilesForSize(oldSize: number, newSize: number): Tile[] {
  checkTreeSize(newSize, 'new tree size');
  checkTreeSize(oldSize, 'old tree size');
  if (oldSize > newSize) {
    throw new FormatError('ERR_TLOG_RANGE', `expected an old size at most the new size ${newSize}, got ${oldSize}`);
  }
  const tiles: Tile[] = [];
  for (let level = 0, scale = 1; Math.floor(newSize / scale) > 0; level++, scale *= TILE_WIDTH) {
    // Hashes at tree level 8·level: one per 256^level records.
    const oldN = Math.floor(oldSize / scale);
    const newN = Math.floor(newSize / scale);
    if (oldN === newN) continue;
    for (let n = Math.floor(oldN / TILE_WIDTH); n < Math.floor(newN / TILE_WIDTH); n++) {
      tiles.push({ level, index: n, width: TILE_WIDTH });
    }
    const n = Math.floor(newN / TILE_WIDTH);
    const w = newN - n * TILE_WIDTH;
    if (w > 0) tiles.push({ level, index: n, width: w });
  }
  return tiles;
}

/**
 * tileForStoredHash returns the smallest tile holding the stored hash `index` (its width just covers it), with the
 * byte range [start, end) of tile data that hashes to it. Hashes at tree levels between tile levels are computed from
 * a run of tile hashes, so the range may span several of them.
 */
export function tileForStoredHash(index: number): { tile: Tile; start: number; end: number } {
  const { level: treeLevel, n } = splitStoredHashIndex(index);
  const level = Math.floor(treeLevel / TILE_HEIGHT);
  const sub = treeLevel - level * TILE_HEIGHT; // level within the tile, 0..7
  const span = 2 ** sub; // tile hashes under this hash
  const first = n * span; // index of the first such hash at tree level 8·level
  const tileIndex = Math.floor(first / TILE_WIDTH);
  const inTile = first - tileIndex * TILE_WIDTH;
  return {
    tile: { level, index: tileIndex, width: inTile + span },
    start: inTile * HASH_BYTES,
    end: (inTile + span) * HASH_BYTES,
  };
}

/**
 * tileStoredIndexes returns the stored hash indexes whose hashes make up a hash tile, in order; read them from a
 * {@link HashReader} and concatenate them to serve the tile (see {@link readTileData}).
 */
export function tileStoredIndexes(tile: Tile): number[] {
  checkTile(tile);
  if (tile.level === ENTRY_BUNDLE_LEVEL) throw new FormatError('ERR_TLOG_TILE_PATH', 'an entry bundle holds no hashes');
  const treeLevel = tile.level * TILE_HEIGHT;
  const out = new Array<number>(tile.width);
  for (let i = 0; i < tile.width; i++) out[i] = storedHashIndex(treeLevel, tile.index * TILE_WIDTH + i);
  return out;
}

/** readTileData builds the bytes of a hash tile from stored hashes (what a log serves at the tile's path). */
export function readTileData(tile: Tile, reader: HashReader): Uint8Array {
  const indexes = tileStoredIndexes(tile);
  const hashes = reader.readHashes(indexes);
  if (!Array.isArray(hashes) || hashes.length !== indexes.length) throw new Error('tlog: hash reader returned the wrong count');
  const data = new Uint8Array(indexes.length * HASH_BYTES);
  hashes.forEach((h, i) => {
    if (!(h instanceof Uint8Array) || h.length !== HASH_BYTES) throw new Error('tlog: hash reader returned a malformed hash');
    data.set(h, i * HASH_BYTES);
  });
  return data;
}

/** tileHashAt returns (a view of) the i-th hash of tile data. */
export function tileHashAt(data: Uint8Array, i: number): Uint8Array {
  if (!Number.isInteger(i) || i < 0 || (i + 1) * HASH_BYTES > data.length) {
    throw new FormatError('ERR_TLOG_RANGE', `expected a hash index below ${Math.floor(data.length / HASH_BYTES)}, got ${i}`);
  }
  return data.subarray(i * HASH_BYTES, (i + 1) * HASH_BYTES);
}

/**
 * hashFromTile returns the stored hash `index` computed from the data of `tile`, which must contain it. Throws
 * `FormatError('ERR_TLOG_RANGE')` when the hash is not in the tile and `ERR_TLOG_TILE_INVALID` when the data is shorter
 * than the tile's width.
 */
export function hashFromTile(tile: Tile, data: Uint8Array, index: number): Uint8Array {
  checkTile(tile);
  if (data.length < tile.width * HASH_BYTES) {
    throw new VerificationError('ERR_TLOG_TILE_INVALID', `expected ${tile.width * HASH_BYTES} bytes of tile data, got ${data.length}`);
  }
  const t = tileForStoredHash(index);
  if (t.tile.level !== tile.level || t.tile.index !== tile.index || t.tile.width > tile.width) {
    throw new FormatError('ERR_TLOG_RANGE', `stored hash ${index} is in ${formatTilePath(t.tile)}, not ${formatTilePath(tile)}`);
  }
  return subtreeHashOfTileData(data.subarray(t.start, t.end));
}

/** subtreeHashOfTileData returns the Merkle hash over a power-of-two run of tile hashes. */
function subtreeHashOfTileData(data: Uint8Array): Uint8Array {
  if (data.length === HASH_BYTES) return data.subarray(0, HASH_BYTES);
  const half = data.length / 2;
  return hashChildren(subtreeHashOfTileData(data.subarray(0, half)), subtreeHashOfTileData(data.subarray(half)));
}

/**
 * tileParent returns the tile k levels above `tile` (k = 0: the tile itself) as it exists in a tree of `size` records
 * (its width clipped to the size), or undefined when that tile does not exist.
 */
function tileParent(tile: Tile, k: number, size: number): Tile | undefined {
  const level = tile.level + k;
  const index = Math.floor(tile.index / TILE_WIDTH ** k);
  const max = Math.floor(size / TILE_WIDTH ** level); // hashes at tree level 8·level
  const start = index * TILE_WIDTH;
  if (start >= max) return undefined;
  return { level, index, width: Math.min(TILE_WIDTH, max - start) };
}

// ---------------------------------------------------------------------------------------------------------------
// Entry bundles.

/**
 * encodeEntryBundle encodes 1 to 256 entries as an entry bundle. Throws `LimitError` (`ERR_LIMIT_SIZE`,
 * `ERR_LIMIT_COUNT`) for an entry above 65,535 bytes or more than 256 entries, and `ERR_TLOG_ENTRY_BUNDLE` for none.
 */
export function encodeEntryBundle(entries: readonly Uint8Array[]): Uint8Array {
  if (entries.length === 0) throw new FormatError('ERR_TLOG_ENTRY_BUNDLE', 'an entry bundle holds at least one entry');
  if (entries.length > TILE_WIDTH) {
    throw new LimitError('ERR_LIMIT_COUNT', `expected at most ${TILE_WIDTH} entries in a bundle, got ${entries.length}`);
  }
  let total = 0;
  for (const e of entries) {
    if (e.length > MAX_ENTRY_BYTES) {
      throw new LimitError('ERR_LIMIT_SIZE', `expected entries of at most ${MAX_ENTRY_BYTES} bytes, got ${e.length}`);
    }
    total += 2 + e.length;
  }
  const out = new Uint8Array(total);
  let off = 0;
  for (const e of entries) {
    // c2sp.org/tlog-tiles: big-endian uint16 length prefix, then the entry.
    out[off] = e.length >>> 8;
    out[off + 1] = e.length & 0xff;
    out.set(e, off + 2);
    off += 2 + e.length;
  }
  return out;
}

/**
 * parseEntryBundle splits an entry bundle into entries (views into `data`, not copies). With `width`, the bundle must
 * hold exactly that many entries. Throws `FormatError('ERR_TLOG_ENTRY_BUNDLE')` for a truncated prefix or entry, an
 * empty bundle or a count mismatch, and `LimitError('ERR_LIMIT_SIZE')` above {@link MAX_ENTRY_BUNDLE_BYTES}.
 */
export function parseEntryBundle(data: Uint8Array, width?: number): Uint8Array[] {
  if (data.length > MAX_ENTRY_BUNDLE_BYTES) {
    throw new LimitError('ERR_LIMIT_SIZE', `expected an entry bundle of at most ${MAX_ENTRY_BUNDLE_BYTES} bytes, got ${data.length}`);
  }
  if (width !== undefined && (!Number.isInteger(width) || width < 1 || width > TILE_WIDTH)) {
    throw new FormatError('ERR_TLOG_ENTRY_BUNDLE', `expected a bundle width from 1 to 256, got ${String(width)}`);
  }
  const entries: Uint8Array[] = [];
  let off = 0;
  while (off < data.length) {
    if (entries.length === TILE_WIDTH) {
      throw new FormatError('ERR_TLOG_ENTRY_BUNDLE', `expected at most ${TILE_WIDTH} entries, got more`);
    }
    if (off + 2 > data.length) throw new FormatError('ERR_TLOG_ENTRY_BUNDLE', `truncated length prefix at byte ${off}`);
    const len = (data[off]! << 8) | data[off + 1]!;
    off += 2;
    if (off + len > data.length) {
      throw new FormatError('ERR_TLOG_ENTRY_BUNDLE', `entry ${entries.length} declares ${len} bytes, only ${data.length - off} remain`);
    }
    entries.push(data.subarray(off, off + len));
    off += len;
  }
  if (entries.length === 0) throw new FormatError('ERR_TLOG_ENTRY_BUNDLE', 'an entry bundle holds at least one entry');
  if (width !== undefined && entries.length !== width) {
    throw new FormatError('ERR_TLOG_ENTRY_BUNDLE', `expected ${width} entries in the bundle, got ${entries.length}`);
  }
  return entries;
}

// ---------------------------------------------------------------------------------------------------------------
// Serving proofs from tiles.

/** TileHashReader is the {@link AsyncHashReader} returned by {@link tileHashReader}. */
export interface TileHashReader extends AsyncHashReader {
  /** size and root identify the tree the tiles are authenticated against. */
  readonly size: number;
  readonly root: Uint8Array;
}

/**
 * tileHashReader returns an {@link AsyncHashReader} for the tree of `size` records with root `root` (from a verified
 * checkpoint) that fetches the tiles it needs through `tileReader`, authenticates them, and serves hashes from them.
 * Pass it to `proveInclusionAsync`, `proveConsistencyAsync` or `treeHashAsync`, or ask for leaf hashes directly.
 *
 * Authentication (before any hash is used): the tiles covering the tree's right edge must recompute `root`; every
 * other tile must hash to the entry for it in its parent tile, which is fetched too. Any mismatch, or data of the
 * wrong length, throws `VerificationError('ERR_TLOG_TILE_INVALID')`. Authenticated tiles are cached for the life of
 * the reader (they cannot change for a fixed tree), so repeated proofs fetch little.
 *
 * @example
 * const reader = tileHashReader(cp.size, cp.rootHash, tileReaderFunc(fetchTiles));
 * const proof = await proveInclusionAsync(index, cp.size, reader);
 */
export function tileHashReader(size: number, root: Uint8Array, tileReader: TileReader): TileHashReader {
  checkTreeSize(size, 'tree size');
  checkHash(root, 'tree root');
  const rootCopy = Uint8Array.from(root);
  const cache = new Map<string, Uint8Array>();
  const storedLimit = storedHashCount(size);

  async function readHashes(indexes: readonly number[]): Promise<Uint8Array[]> {
    if (indexes.length === 0) return [];
    for (const x of indexes) {
      if (!Number.isSafeInteger(x) || x < 0 || x >= storedLimit) {
        throw new FormatError('ERR_TLOG_RANGE', `stored hash ${String(x)} is not in the tree of size ${size}`);
      }
    }
    // Plan: tiles[] in an order where every parent precedes its children; slot maps a tile path to its position.
    const tiles: Tile[] = [];
    const slot = new Map<string, number>();
    const add = (t: Tile): number => {
      const key = formatTilePath(t);
      let i = slot.get(key);
      if (i === undefined) {
        i = tiles.length;
        slot.set(key, i);
        tiles.push(t);
      }
      return i;
    };
    // 1. The tiles holding the hashes that make up the root: authenticated by recomputing the root.
    const rootIndexes = rootStoredIndexes(size);
    const rootSlots = rootIndexes.map((x) => add(edgeTile(x, size)));
    const numRootTiles = tiles.length;
    // 2. The tile of each requested hash, and its ancestors up to one already planned.
    const indexSlots = indexes.map((x) => {
      const base = tileForStoredHash(x).tile;
      let k = 0;
      for (;; k++) {
        const p = tileParent(base, k, size);
        if (p === undefined) throw new Error(`tlog: bad math in tileHashReader: no planned ancestor for ${x}`);
        if (slot.has(formatTilePath(p))) break;
      }
      for (k--; k >= 0; k--) {
        const p = tileParent(base, k, size)!;
        // Only full tiles have parents holding their hash; a partial tile here would be a planning bug.
        if (p.width !== TILE_WIDTH) throw new Error('tlog: bad math in tileHashReader: partial tile below the edge');
        add(p);
      }
      return slot.get(formatTilePath(tileParent(base, 0, size)!))!;
    });

    // Fetch what is not cached.
    const data = new Array<Uint8Array | undefined>(tiles.length);
    const missing: number[] = [];
    tiles.forEach((t, i) => {
      const hit = cache.get(formatTilePath(t));
      if (hit) data[i] = hit;
      else missing.push(i);
    });
    if (missing.length > 0) {
      const fetched = await tileReader.readTiles(missing.map((i) => tiles[i]!));
      if (!Array.isArray(fetched) || fetched.length !== missing.length) {
        throw new VerificationError(
          'ERR_TLOG_TILE_INVALID',
          `tile reader returned ${Array.isArray(fetched) ? fetched.length : 'no'} tiles, expected ${missing.length}`,
        );
      }
      missing.forEach((i, j) => {
        const d = fetched[j];
        const t = tiles[i]!;
        if (!(d instanceof Uint8Array) || d.length !== t.width * HASH_BYTES) {
          throw new VerificationError(
            'ERR_TLOG_TILE_INVALID',
            `tile ${formatTilePath(t)}: expected ${t.width * HASH_BYTES} bytes, got ${d instanceof Uint8Array ? d.length : typeof d}`,
          );
        }
        data[i] = Uint8Array.from(d); // copy: the reader's buffer could change after authentication
      });
    }
    const dataOf = (i: number): Uint8Array => data[i]!;

    // Authenticate 1: the edge tiles must recompute the signed root (skipped when all were cached, i.e. checked).
    if (missing.some((i) => i < numRootTiles)) {
      const last = rootIndexes.length - 1;
      let th = hashFromTile(tiles[rootSlots[last]!]!, dataOf(rootSlots[last]!), rootIndexes[last]!);
      for (let i = last - 1; i >= 0; i--) {
        th = hashChildren(hashFromTile(tiles[rootSlots[i]!]!, dataOf(rootSlots[i]!), rootIndexes[i]!), th);
      }
      if (!bytesEqual(th, rootCopy)) {
        // At least one edge tile is wrong; we cannot tell which, so none is trusted or cached.
        throw new VerificationError('ERR_TLOG_TILE_INVALID', `fetched tiles do not match the root of the tree of size ${size}`);
      }
    }
    // Authenticate 2: every other fetched tile (all full) hashes to its entry in its parent, which precedes it.
    for (const i of missing) {
      if (i < numRootTiles) continue;
      const t = tiles[i]!;
      const parent = tileParent(t, 1, size)!;
      const j = slot.get(formatTilePath(parent));
      if (j === undefined || j >= i) throw new Error('tlog: bad math in tileHashReader: parent not planned first');
      const want = hashFromTile(parent, dataOf(j), storedHashIndex((t.level + 1) * TILE_HEIGHT, t.index));
      if (!bytesEqual(subtreeHashOfTileData(dataOf(i)), want)) {
        throw new VerificationError('ERR_TLOG_TILE_INVALID', `tile ${formatTilePath(t)} does not match its parent tile`);
      }
    }
    for (const i of missing) cache.set(formatTilePath(tiles[i]!), dataOf(i));

    // Serve the requested hashes (copies, so callers cannot alter the cache).
    return indexes.map((x, i) => Uint8Array.from(hashFromTile(tiles[indexSlots[i]!]!, dataOf(indexSlots[i]!), x)));
  }

  return { size, root: rootCopy, readHashes };
}

/** rootStoredIndexes lists the stored hashes that make up the root of a tree of `size` records, left to right. */
function rootStoredIndexes(size: number): number[] {
  // The maximal complete subtrees of [0, size): one per set bit of size, largest first.
  const out: number[] = [];
  let lo = 0;
  for (let level = 52; level >= 0; level--) {
    const k = 2 ** level;
    if (size - lo >= k) {
      out.push(storedHashIndex(level, lo / k));
      lo += k;
    }
  }
  return out;
}

/** edgeTile returns the tile (as it exists at this size) that holds stored hash x. */
function edgeTile(x: number, size: number): Tile {
  const t = tileParent(tileForStoredHash(x).tile, 0, size);
  if (t === undefined) throw new Error('tlog: bad math in tileHashReader: edge hash outside the tree');
  return t;
}

function checkTreeSize(size: number, what: string): void {
  if (!Number.isInteger(size) || size < 0 || size > MAX_STORED_TREE_SIZE) {
    throw new FormatError('ERR_TLOG_RANGE', `expected the ${what} to be an integer from 0 to ${MAX_STORED_TREE_SIZE}, got ${String(size)}`);
  }
}
