/**
 * server/log/tiles — the static read path of C2SP tlog-tiles: which tiles and entry bundles exist for the published
 * tree, and their bytes, derived from the stored hashes and entries (tlog/storage).
 *
 * What is served (c2sp.org/tlog-tiles), for the latest published checkpoint of size P:
 * - a full hash tile `tile/<L>/<N>` once level L has (N+1)·256 hashes, i.e. P ≥ (N+1)·256^(L+1);
 * - a partial hash tile `tile/<L>/<N>.p/<W>` only if some published checkpoint had a size s with
 *   floor(s / 256^L) = N·256 + W ("Logs MUST serve partial tiles corresponding to tree sizes for which a checkpoint
 *   was produced"; clients "MUST NOT fetch arbitrary partial tiles");
 * - entry bundles likewise, with L = 0 and the exact size s = N·256 + W for a partial bundle.
 * Anything else is 404 ERR_LOG_TILE_NOT_FOUND; a malformed path is 400 ERR_TLOG_TILE_PATH.
 *
 * Full tiles and bundles are read as the blobs stored when they filled up; partial ones are assembled from stored
 * hashes and entries. Every servable path names immutable bytes (all of these are write-once), so served tiles are
 * kept in a byte-bounded cache without ever being invalidated. Partial tiles that were once served stay servable after the
 * full tile exists (the spec allows deleting them; keeping them costs nothing here because they are derived).
 */
import { IoError } from '../../errors.ts';
import {
  ENTRY_BUNDLE_LEVEL,
  TILE_WIDTH,
  encodeEntryBundle,
  parseTilePath,
  tileStoredIndexes,
  type Tile,
} from '../../tlog/tile.ts';
import { HASH_BYTES } from '../../tlog/merkle.ts';

/** TileSource is what the read path needs: published size, stored hashes, entries and checkpointed sizes. */
export interface TileSource {
  /** publishedSize is the size of the latest published checkpoint. */
  publishedSize(): number;
  readHashes(indexes: readonly number[]): Promise<Uint8Array[]>;
  readEntries(start: number, end: number): Promise<Uint8Array[]>;
  /** readTile returns a stored full tile or bundle (level -1), or null. */
  readTile(level: number, index: number): Promise<Uint8Array | null>;
  hasCheckpointSizeIn(lo: number, hi: number): Promise<boolean>;
}

/** TileServer answers tile paths for one log. */
export class TileServer {
  readonly #src: TileSource;
  readonly #cacheBytes: number;
  readonly #cache = new Map<string, Uint8Array>();
  #cached = 0;

  constructor(source: TileSource, cacheBytes: number) {
    this.#src = source;
    this.#cacheBytes = cacheBytes;
  }

  /** read returns the bytes at `tile/…` or throws ERR_TLOG_TILE_PATH (400) or ERR_LOG_TILE_NOT_FOUND (404). */
  async read(path: string): Promise<Uint8Array> {
    const hit = this.#cache.get(path);
    if (hit !== undefined) return hit;
    const tile = parseTilePath(path);
    if (!(await this.#exists(tile))) {
      throw new IoError('ERR_LOG_TILE_NOT_FOUND', `${path} is not part of any published tree`, {
        details: { publishedSize: this.#src.publishedSize() },
      });
    }
    const data = await this.#data(tile);
    this.#remember(path, data);
    return data;
  }

  async #exists(t: Tile): Promise<boolean> {
    const size = this.#src.publishedSize();
    const scale = t.level === ENTRY_BUNDLE_LEVEL ? 1 : TILE_WIDTH ** t.level; // records per hash at this level
    const count = Math.floor(size / scale); // hashes (or entries) at this level in the published tree
    const end = t.index * TILE_WIDTH + t.width; // position just after the tile's last hash
    if (end > count) return false;
    if (t.width === TILE_WIDTH) return true;
    // Partial: some checkpointed size s must have had exactly `end` hashes at this level.
    return this.#src.hasCheckpointSizeIn(end * scale, (end + 1) * scale);
  }

  async #data(t: Tile): Promise<Uint8Array> {
    // Full tiles and bundles were stored as blobs by the batch that completed them: one lookup.
    if (t.width === TILE_WIDTH) {
      const stored = await this.#src.readTile(t.level, t.index);
      if (stored !== null) return stored;
    }
    if (t.level === ENTRY_BUNDLE_LEVEL) {
      const start = t.index * TILE_WIDTH;
      return encodeEntryBundle(await this.#src.readEntries(start, start + t.width));
    }
    const hashes = await this.#src.readHashes(tileStoredIndexes(t));
    const out = new Uint8Array(hashes.length * HASH_BYTES);
    hashes.forEach((h, i) => out.set(h, i * HASH_BYTES));
    return out;
  }

  #remember(path: string, data: Uint8Array): void {
    if (data.length > this.#cacheBytes / 8) return; // one item never takes more than an eighth of the cache
    this.#cache.set(path, data);
    this.#cached += data.length;
    // FIFO eviction: the oldest inserted paths go first (hot tiles are re-inserted on their next miss).
    for (const [k, v] of this.#cache) {
      if (this.#cached <= this.#cacheBytes) break;
      this.#cache.delete(k);
      this.#cached -= v.length;
    }
  }
}
