/**
 * log/storage — the durable state of one transparency log, behind one interface whose contract states durability and ordering, so that a
 * PostgreSQL (or object-store + lock-table) backend can be added next to the embedded SQLite one.
 *
 * Data model. A log of size `n` is stored as
 * - its entries `0 … n-1` (raw bytes, ≤ 65,535 each: C2SP tlog-tiles entry bundles use uint16 lengths),
 * - its *stored hashes*: every complete Merkle subtree hash, numbered as in Go's `golang.org/x/mod/sumdb/tlog`
 *   (`storedHashIndex(level, n)`), so that appending record `n` adds the contiguous index range
 *   `[storedHashIndex(0, n), storedHashIndex(0, n+1))`, and
 * - every FULL tile and entry bundle as one blob, written by the batch that completes it (partial tiles at the
 *   right edge are derived from stored hashes and entries on read).
 * - the latest published checkpoint (signed note text) and the set of every tree size ever checkpointed (partial
 *   tiles are served only for those sizes, C2SP tlog-tiles "Partial Tiles").
 * - a lease naming the one process allowed to write.
 * The backend knows no Merkle math: it stores what it is given and enforces the duties below.
 *
 * Duties of every backend (the sequencer's crash safety rests on them):
 * 1. Durability. When `appendBatch` resolves, the change survives a process crash (kill -9) AND an operating-system
 *    crash or power loss (SQLite: WAL with synchronous=FULL, i.e. fsync at each commit). When `publishCheckpoint`
 *    resolves, the change survives a process crash, and survives power loss at the latest once the next
 *    `appendBatch` resolves (a backend may make it durable at once; PostgreSQL does). This is enough because a
 *    checkpoint is only ever published over a tree `appendBatch` already made durable, and the sequencer's start
 *    publishes a checkpoint covering the whole durable tree before anything else: a publish lost to a power cut
 *    leaves an older checkpoint of the same tree, never a tree without an acknowledged entry.
 *    A rejected promise means "outcome unknown": the change may or may not have become durable (the sequencer
 *    re-reads the state with `load` to find out).
 * 2. Atomicity. `appendBatch` writes all of its entries, hashes and full tiles and the new tree size, or nothing. A
 *    reader never observes a tree size whose entries, hashes or full tiles are missing.
 * 3. Write-once. An entry index, a stored-hash index or a full tile is written at most once and never changed or
 *    deleted; a backend refuses a second write of the same key (immutable tiles are never rewritten, and a crash
 *    after `appendBatch` can never change what a later checkpoint commits to).
 * 4. Compare-and-swap. `appendBatch` succeeds only if the durable tree size equals `batch.oldSize`;
 *    `publishCheckpoint` only if the durable checkpoint equals `expected` (bytes, or absence) and the new size is
 *    within the durable tree and not below the old one. Both also check that `owner` still holds the lease, in the
 *    same atomic step (a fencing token). A failed comparison rejects with ERR_LOG_CONFLICT (or ERR_LOG_LEASE_LOST)
 *    and changes nothing. Two processes on the same data can therefore never both extend the same tree size, and a
 *    checkpoint can never move backwards: the log cannot fork.
 * 5. Ordering. Writes are linearizable: once a write resolved, every later `load`/read (from any process) sees it.
 *    `publishCheckpoint` for size `s` is only ever called after `appendBatch` made size `s` durable (the backend
 *    checks `s ≤ tree size`).
 * 6. Concurrency. One process writes (the lease holder); any number of readers may run at the same time. Reads never
 *    block on the sequencer for longer than one commit.
 * 7. Errors. Infrastructure failures reject with an IoError `ERR_LOG_STORAGE` (cause attached); a missing index that
 *    should exist rejects with `ERR_LOG_STATE_CORRUPT`; a held lease with `ERR_LOG_LOCKED`.
 *
 * Trust boundary: the storage is trusted by the sequencer to return what it stored; the sequencer still checks
 * every new root against the previous checkpoint (a consistency self-check) before it signs anything.
 */

/** LeaseHolder identifies the process allowed to write (fencing token `owner`). */
export interface LeaseHolder {
  /** owner is a random token chosen by the process at start (128 bits, hex). */
  owner: string;
  /** pid and host let a restarted process on the same machine take over from a holder that died (kill -9). */
  pid: number;
  host: string;
  /** expiresAt is the lease end in milliseconds since the Unix epoch; the holder renews it well before. */
  expiresAt: number;
}

/** PublishedCheckpoint is a checkpoint as stored: its tree size and the exact signed note text. */
export interface PublishedCheckpoint {
  /** size is the tree size, 0 ≤ size ≤ 2^53-1. */
  size: number;
  /** text is the full signed note (UTF-8), byte for byte as served at `<prefix>/checkpoint`. */
  text: string;
}

/** LogState is what `load` returns: the durable tree size and the latest published checkpoint. */
export interface LogState {
  /** treeSize is the number of durable entries. It may exceed checkpoint.size after a crash between the two commits. */
  treeSize: number;
  /** checkpoint is the latest published checkpoint, or null for a log that never published one. */
  checkpoint: PublishedCheckpoint | null;
}

/** AppendBatch is one atomic, compare-and-swap extension of the tree. */
export interface AppendBatch {
  /** owner must hold the lease. */
  owner: string;
  /** oldSize is the durable tree size this batch extends; the write fails unless it is current. */
  oldSize: number;
  /** entries are appended at indexes oldSize, oldSize+1, …; each is at most 65,535 bytes. */
  entries: readonly Uint8Array[];
  /** hashStart is the first new stored-hash index (storedHashIndex(0, oldSize)); it must equal the stored count. */
  hashStart: number;
  /** hashes are the new stored hashes, 32 bytes each, at hashStart, hashStart+1, … */
  hashes: readonly Uint8Array[];
  /** tiles are the FULL tiles and entry bundles this batch completes (possibly none), stored once. */
  tiles: readonly StoredTile[];
}

/**
 * StoredTile is a full C2SP tile (256 hashes, 8,192 bytes; level 0..63) or a full entry bundle (level -1), kept as
 * one immutable blob so the read path serves it with one lookup. Its bytes are derived from the stored hashes and
 * entries of the same batch, so it is durable exactly when they are.
 */
export interface StoredTile {
  /** level: 0..63 for hash tiles, -1 for entry bundles. */
  level: number;
  /** index: the tile's position within its level (0..2^53-1). */
  index: number;
  data: Uint8Array;
}

/** PublishRequest is a compare-and-swap of the latest checkpoint. */
export interface PublishRequest {
  owner: string;
  /** expected is the checkpoint the caller believes is current (text compared byte for byte), or null. */
  expected: PublishedCheckpoint | null;
  /** next becomes the latest checkpoint; next.size ≥ expected.size and next.size ≤ the durable tree size. */
  next: PublishedCheckpoint;
}

/** LeaseRequest asks for (or renews) the write lease. */
export interface LeaseRequest {
  holder: LeaseHolder;
  /** now is the caller's clock, milliseconds since the epoch (injected, never read by the backend). */
  now: number;
  /**
   * isDead tells whether a current holder is known dead (same host, pid no longer running), so a restart after
   * kill -9 need not wait for the lease to expire.
   */
  isDead: (other: LeaseHolder) => boolean;
}

/** LogStorage is the durable state of one log; see the module comment for the duties of an implementation. */
export interface LogStorage {
  /** load returns the durable tree size and latest checkpoint (linearizable with every resolved write). */
  load(): Promise<LogState>;

  /**
   * acquireLease takes the write lease when it is free, expired, ours, or held by a dead process; otherwise it
   * rejects with ERR_LOG_LOCKED naming the holder (pid, host, expiry). Renewal is the same call.
   */
  acquireLease(request: LeaseRequest): Promise<void>;

  /** releaseLease gives the lease up if `owner` holds it (clean shutdown); otherwise it does nothing. */
  releaseLease(owner: string): Promise<void>;

  /** appendBatch durably appends one batch (duties 1–5); the crash-safe point of the entries. */
  appendBatch(batch: AppendBatch): Promise<void>;

  /** publishCheckpoint durably replaces the latest checkpoint (duties 1, 4, 5) and records its size. */
  publishCheckpoint(request: PublishRequest): Promise<void>;

  /** readHashes returns the stored hashes at the given indexes, in order; each must be durable. */
  readHashes(indexes: readonly number[]): Promise<Uint8Array[]>;

  /** readEntries returns the entries with index in [start, end), in order; end must not exceed the tree size. */
  readEntries(start: number, end: number): Promise<Uint8Array[]>;

  /** readTile returns a stored full tile or entry bundle, or null if none was stored at (level, index). */
  readTile(level: number, index: number): Promise<Uint8Array | null>;

  /** hasCheckpointSizeIn tells whether any published checkpoint had a size in [lo, hi). */
  hasCheckpointSizeIn(lo: number, hi: number): Promise<boolean>;

  /** close releases resources (not the lease). Calls after close reject with ERR_LOG_CLOSED. */
  close(): Promise<void>;
}

/** MAX_ENTRY_BYTES is the largest entry a log accepts: uint16 length prefixes in C2SP entry bundles. */
export { MAX_ENTRY_BYTES } from '../tlog/tile.ts';
