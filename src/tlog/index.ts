/**
 * tlog — transparency log math: RFC 6962 Merkle hashing, proofs over stored hashes, and C2SP tlog-tiles. Pure
 * functions over {@link HashReader} / {@link TileReader} interfaces; no I/O.
 */
export {
  HASH_BYTES,
  MAX_PROOF_HASHES,
  MAX_STORED_TREE_SIZE,
  MAX_TREE_SIZE,
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
} from './merkle.ts';
export type { AsyncHashReader, HashReader } from './merkle.ts';
export {
  ENTRY_BUNDLE_LEVEL,
  MAX_ENTRY_BUNDLE_BYTES,
  MAX_ENTRY_BYTES,
  MAX_TILE_LEVEL,
  TILE_HEIGHT,
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
} from './tile.ts';
export type { Tile, TileHashReader, TileReader } from './tile.ts';
