/**
 * log/sequencer — turns submitted entries into durable, signed, published log state (RFC 6962 tree, C2SP
 * tlog-checkpoint), one batch at a time, in the spirit of Sunlight's ctlog.go.
 *
 * The append path of one batch, and where it becomes crash-safe:
 * ```
 *  add(entry)  → pending queue (memory only: a crash here loses the entry, and nobody was told it was logged)
 *  build       → leaf hashes, stored hashes (Go tlog numbering) and the new root, in memory
 *  appendBatch → ONE storage transaction: entries + stored hashes + the full tiles and bundles the batch completes +
 *                tree size, by compare-and-swap on the tree size
 *                ── CRASH-SAFE POINT 1: from here the entries are durable and immutable. A crash after this point
 *                   never loses or reorders them: on restart the sequencer finds tree size > checkpoint size and
 *                   publishes a checkpoint covering them before anything else. They are not acknowledged yet.
 *  self-check  → consistency proof from the published checkpoint to the new root, verified (a storage or math bug
 *                stops the log here instead of producing a fork)
 *  sign        → Ed25519 signed note over the checkpoint (only ever of a durable tree: a second process or a restart
 *                can only sign extensions of it, so two inconsistent checkpoints are never signed)
 *  witnesses   → optional C2SP tlog-witness cosignatures, threshold enforced; on failure the entries stay durable and
 *                the publish is retried
 *  publish     → compare-and-swap of the latest checkpoint (and the lease owner, a fencing token)
 *                ── CRASH-SAFE POINT 2: the checkpoint is visible; now, and only now, acknowledgements are sent.
 *                   (Storage may make this write power-loss durable only with the next batch, tlog/storage duty 1:
 *                   if it is lost, `start` re-publishes over the same durable tree, so every acknowledged
 *                   checkpoint stays a prefix of what the log signs next.)
 *  ack         → each waiter gets { index, checkpoint, inclusion proof } against that checkpoint.
 * ```
 * A second process on the same data first needs the lease (storage `acquireLease`); even without it, both compare-and-
 * swaps fence it out, so it can never extend the tree at a size this process already extended.
 *
 * Failures: a storage error with unknown outcome is resolved by re-reading the state (`load`): if the batch landed
 * it is published as usual; if not, its submitters get ERR_LOG_STORAGE (retryable) and the tree is unchanged. A
 * compare-and-swap conflict or a lost lease is fatal: the sequencer stops (ERR_LOG_CONFLICT / ERR_LOG_LEASE_LOST).
 *
 * Shared mode (`shared: true`, PostgreSQL only; docs/log.md "Several writers on one PostgreSQL log"): several
 * processes with the same log key write one log. They hold the lease together under the fixed owner token
 * {@link SHARED_LEASE_OWNER} (so a single-writer process is still locked out, and they are locked out by one) and
 * never release it on close (it expires). Every batch is still ONE compare-and-swap on the stored tree size, so
 * the stored log is one linear history by construction; a writer that loses the race does not stop: it catches up
 * (reads the entries the others appended, recomputes their stored hashes and compares them with the stored ones,
 * adopts the newest stored checkpoint after checking its signature and that it extends the one it published),
 * then rebuilds its batch on the new tree and retries — at most {@link SHARED_MAX_CONFLICTS} times per batch. A
 * lost checkpoint race is handled the same way: the stored checkpoint is adopted and a newer one published over
 * it if the tree grew. An idle writer polls the stored state every {@link SHARED_POLL_MS} ms, so its read path
 * serves the others' entries and checkpoints too.
 */
import { IoError, LimitError, ConfigError, isTrustError, type TrustError } from '../errors.ts';
import {
  HASH_BYTES,
  bytesEqual,
  emptyTreeRoot,
  hashLeaf,
  proveConsistency,
  proveInclusion,
  storedHashCount,
  storedHashes,
  treeHash,
  verifyConsistency,
  type HashReader,
} from '../tlog/merkle.ts';
import { MAX_ENTRY_BYTES, type LeaseHolder, type LogStorage, type PublishedCheckpoint, type StoredTile } from './storage.ts';
import { ENTRY_BUNDLE_LEVEL, TILE_WIDTH, encodeEntryBundle, readTileData, tilesForSize } from '../tlog/tile.ts';


/** SHARED_LEASE_OWNER is the lease owner token every writer of a shared log uses (it fences out single writers). */
export const SHARED_LEASE_OWNER = 'shared-writers';
/** SHARED_MAX_CONFLICTS bounds how often one batch is rebuilt after losing the compare-and-swap to another writer. */
export const SHARED_MAX_CONFLICTS = 32;
/** SHARED_POLL_MS is how often an idle shared writer reads the stored state to follow the other writers. */
export const SHARED_POLL_MS = 250;
/** CATCH_UP_CHUNK is how many entries a catch-up reads per storage call. */
const CATCH_UP_CHUNK = 4_096;
/** RECOVERY_PUBLISH_ATTEMPTS bounds the extra publish attempts `start` makes when it finds durable entries no checkpoint covers. */
const RECOVERY_PUBLISH_ATTEMPTS = 10;
/** CheckpointSigner signs checkpoints of this log and opens the ones it signed before. */
export interface CheckpointSigner {
  /** sign returns the signed note text of the checkpoint (origin, size, base64 root). */
  sign(size: number, root: Uint8Array): Promise<string> | string;
  /** open verifies the log's own signature on stored checkpoint text and returns its size and root. */
  open(text: string): { size: number; root: Uint8Array };
}

/** CosignRequest is what a {@link CheckpointCosigner} needs to ask witnesses for cosignatures. */
export interface CosignRequest {
  /** text is the signed checkpoint note. */
  text: string;
  size: number;
  root: Uint8Array;
  /** prove returns the consistency proof from oldSize (≤ size) to size. */
  prove: (oldSize: number) => Promise<Uint8Array[]>;
}

/** CheckpointCosigner collects witness cosignatures; it returns the note with them or throws (threshold unmet). */
export interface CheckpointCosigner {
  cosign(request: CosignRequest): Promise<string>;
}

/** SequencerLogger receives structured lifecycle events (pino-compatible subset). */
export interface SequencerLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

/** SequencerOptions configures a {@link Sequencer}; see server/log/config.ts for the meaning of the numbers. */
export interface SequencerOptions {
  storage: LogStorage;
  signer: CheckpointSigner;
  cosigner?: CheckpointCosigner | undefined;
  config: {
    batchDelayMs: number;
    groupCommitWaitMs: number;
    batchMaxEntries: number;
    maxPendingEntries: number;
    addTimeoutMs: number;
    retryDelayMs: number;
    leaseTtlMs: number;
    hashCacheEntries: number;
    now: () => number;
  };
  /** holder identifies this process for the lease (owner is generated by the caller; replaced in shared mode). */
  holder: Omit<LeaseHolder, 'expiresAt'>;
  /** shared lets several processes with the same key write this log (see the module comment); default false. */
  shared?: boolean | undefined;
  /** isDead tells whether another lease holder is known dead (same host, pid gone). */
  isDead: (other: LeaseHolder) => boolean;
  logger?: SequencerLogger | undefined;
  /** onFatal is called once when the sequencer stops on its own (lost lease, conflict, corrupt state). */
  onFatal?: ((e: TrustError) => void) | undefined;
  /**
   * observeCommit is told how long each successful appendBatch took (seconds): the group commit, one storage
   * transaction with its fsync (the daemon's custody_log_commit_seconds histogram).
   */
  observeCommit?: ((seconds: number) => void) | undefined;
}

/** AddResult is the acknowledgement of an entry: its index, the covering checkpoint and the inclusion proof. */
export interface AddResult {
  /** index is the entry's position in the log (0-based). */
  index: number;
  /** checkpoint is the signed note text of the checkpoint the proof is against (size > index). */
  checkpoint: string;
  /** size is that checkpoint's tree size. */
  size: number;
  /** proof is the RFC 6962 inclusion proof of the entry in that checkpoint, leaf to root. */
  proof: Uint8Array[];
}

interface Waiter {
  entry: Uint8Array;
  index: number; // -1 until sequenced
  deadline: number;
  resolve: (r: AddResult) => void;
  reject: (e: TrustError) => void;
}

interface Published extends PublishedCheckpoint {
  root: Uint8Array;
}

/** MISS is thrown by the cache reader to ask for an asynchronous fetch of the missing hashes (never escapes). */
const MISS = new Error('tlog: hash cache miss');
const ZERO_HASH = new Uint8Array(HASH_BYTES);

/**
 * HashCache keeps recently written and read stored hashes: two generations of Maps (a cheap approximation of LRU
 * without per-hit reordering). Stored hashes never change (write-once), so a cached hash is never stale.
 */
export class HashCache {
  #young = new Map<number, Uint8Array>();
  #old = new Map<number, Uint8Array>();
  readonly #half: number;

  constructor(capacity: number) {
    this.#half = Math.max(1, Math.floor(capacity / 2));
  }

  get(i: number): Uint8Array | undefined {
    const y = this.#young.get(i);
    if (y !== undefined) return y;
    const o = this.#old.get(i);
    if (o !== undefined) this.set(i, o);
    return o;
  }

  set(i: number, h: Uint8Array): void {
    if (this.#young.size >= this.#half) {
      this.#old = this.#young;
      this.#young = new Map();
    }
    this.#young.set(i, h);
  }

  get size(): number {
    return this.#young.size + this.#old.size;
  }
}

/** Sequencer is the single writer of one log; see the module comment for its append path. */
export class Sequencer {
  readonly #o: SequencerOptions;
  readonly #cache: HashCache;
  #treeSize = 0;
  #published: Published | null = null;
  /** pending entries, not yet in a batch (FIFO). */
  #pending: Waiter[] = [];
  /** sequenced entries (durable), waiting for a checkpoint covering them, in index order. */
  #unacked: Waiter[] = [];
  #running = false;
  #timer: NodeJS.Timeout | undefined;
  #timerIsImmediate = false;
  /** lastBatchSize and lastBatchEnd drive the group-commit wait (see #schedule). */
  #lastBatchSize = 0;
  #lastBatchEnd = 0;
  #firstPendingAt = 0;
  #retryAt = 0;
  /** resync > 0: an append of that many entries ended with an unknown outcome; re-read the tree size first. */
  #resync = 0;
  /** edgeEntries are the durable entries of the right-edge partial bundle (to write the bundle when it fills). */
  #edgeEntries: Uint8Array[] = [];
  /** unknownPublish is a checkpoint whose publish ended with an unknown outcome (settled before the next one). */
  #unknownPublish: Published | undefined;
  #leaseTimer: NodeJS.Timeout | undefined;
  #sweepTimer: NodeJS.Timeout | undefined;
  #state: 'new' | 'running' | 'closing' | 'closed' = 'new';
  #fatal: TrustError | undefined;
  /** stats count batches and entries, for logs and the benchmark. */
  readonly stats = { batches: 0, entries: 0, publishes: 0, storageErrors: 0, conflicts: 0, caughtUp: 0 };
  /** conflicts counts the lost compare-and-swaps of the batch at the head of the queue (shared mode). */
  #conflicts = 0;
  #pollTimer: NodeJS.Timeout | undefined;

  constructor(options: SequencerOptions) {
    this.#o = options.shared === true ? { ...options, holder: { ...options.holder, owner: SHARED_LEASE_OWNER } } : options;
    this.#cache = new HashCache(options.config.hashCacheEntries);
  }

  /** treeSize is the durable tree size (may be ahead of the published checkpoint between the two commits). */
  get treeSize(): number {
    return this.#treeSize;
  }

  /** checkpoint is the latest published checkpoint (text and size), or null before start. */
  get checkpoint(): PublishedCheckpoint | null {
    return this.#published === null ? null : { size: this.#published.size, text: this.#published.text };
  }

  /** publishedRoot is the root hash of the latest published checkpoint. */
  get publishedRoot(): Uint8Array | null {
    return this.#published?.root ?? null;
  }

  /** pendingCount is the number of entries accepted but not yet acknowledged. */
  get pendingCount(): number {
    return this.#pending.length + this.#unacked.length;
  }

  /** fatalError is the error that stopped the sequencer, if any. */
  get fatalError(): TrustError | undefined {
    return this.#fatal;
  }

  #log(): SequencerLogger | undefined {
    return this.#o.logger;
  }

  #holder(): LeaseHolder {
    return { ...this.#o.holder, expiresAt: this.#o.config.now() + this.#o.config.leaseTtlMs };
  }

  /**
   * start takes the lease, loads and checks the durable state, publishes a checkpoint for any durable but
   * unpublished entries (recovery after a crash between the two commits) and starts accepting entries.
   */
  async start(): Promise<void> {
    if (this.#state !== 'new') throw new Error('tlog: sequencer started twice');
    const { storage, config } = this.#o;
    await storage.acquireLease({ holder: this.#holder(), now: config.now(), isDead: this.#o.isDead });
    const state = await storage.load();
    await this.#loadEdgeEntries(state.treeSize);
    this.#treeSize = state.treeSize;
    if (state.checkpoint !== null) {
      let opened: { size: number; root: Uint8Array };
      try {
        opened = this.#o.signer.open(state.checkpoint.text);
      } catch (e) {
        throw new ConfigError('ERR_LOG_STATE_CORRUPT', 'the stored checkpoint does not verify under the log key', {
          cause: e,
        });
      }
      if (opened.size !== state.checkpoint.size || opened.size > state.treeSize) {
        throw new ConfigError(
          'ERR_LOG_STATE_CORRUPT',
          `expected the stored checkpoint size ${state.checkpoint.size} within the tree of ${state.treeSize}, got ${opened.size}`,
        );
      }
      // The stored tree must still hash to the published root: otherwise signing anything would fork the log.
      const root = await this.#withHashes((r) => treeHash(opened.size, r));
      if (!bytesEqual(root, opened.root)) {
        throw new ConfigError('ERR_LOG_STATE_CORRUPT', `the stored tree of size ${opened.size} does not hash to its checkpoint root`);
      }
      this.#published = { ...state.checkpoint, root: opened.root };
    }
    this.#state = 'running';
    this.#leaseTimer = setInterval(() => void this.#renewLease(), Math.max(250, Math.floor(config.leaseTtlMs / 3)));
    this.#leaseTimer.unref();
    this.#sweepTimer = setInterval(() => this.#sweep(), Math.max(50, Math.min(1_000, Math.floor(config.addTimeoutMs / 4))));
    this.#sweepTimer.unref();
    if (this.#o.shared === true) {
      this.#pollTimer = setInterval(() => void this.#poll(), SHARED_POLL_MS);
      this.#pollTimer.unref();
    }
    this.#log()?.info({ treeSize: this.#treeSize, published: this.#published?.size ?? null }, 'sequencer started');
    if (this.#published === null || this.#treeSize > this.#published.size) {
      // Recovery (or a fresh log): publish before accepting the first batch, so the read path has a checkpoint.
      // If that fails for a transient reason (storage, witnesses) it is retried in the background; adds wait.
      const recovering = this.#published !== null;
      await this.#runOnce();
      if (this.#fatal) throw this.#fatal;
      // A stored tree larger than the stored checkpoint may mean a checkpoint that clients already hold was lost
      // with the power (the publish commits without its own fsync, storage duty 1): until it is signed again the
      // read path would serve an older one. Try harder before returning (bounded: a log whose witnesses are down
      // still starts, and keeps retrying in the background).
      for (let i = 0; recovering && i < RECOVERY_PUBLISH_ATTEMPTS && (this.#published?.size ?? -1) < this.#treeSize; i++) {
        await new Promise((r) => setTimeout(r, config.retryDelayMs));
        await this.#runOnce();
        const fatal = this.#fatal as TrustError | undefined; // set by #runOnce meanwhile (TS keeps the narrowing above)
        if (fatal) throw fatal;
      }
      if (recovering && (this.#published?.size ?? -1) < this.#treeSize) {
        this.#log()?.warn({ treeSize: this.#treeSize, published: this.#published?.size ?? null }, 'recovery publish still failing; serving the older checkpoint and retrying');
      }
    }
  }

  /**
   * add queues an entry and resolves once it is durable and covered by a published checkpoint.
   * Rejects with ERR_LOG_ENTRY_TOO_LARGE, ERR_LOG_OVERLOADED, ERR_LOG_CLOSED, ERR_LOG_STORAGE or ERR_LOG_NOT_PUBLISHED.
   */
  add(entry: Uint8Array): Promise<AddResult> {
    if (entry.length > MAX_ENTRY_BYTES) {
      return Promise.reject(
        new LimitError('ERR_LOG_ENTRY_TOO_LARGE', `expected an entry of at most ${MAX_ENTRY_BYTES} bytes, got ${entry.length}`, {
          details: { size: entry.length, cap: MAX_ENTRY_BYTES },
        }),
      );
    }
    if (this.#state !== 'running') {
      return Promise.reject(this.#fatal ?? new IoError('ERR_LOG_CLOSED', 'the log is not accepting entries'));
    }
    if (this.pendingCount >= this.#o.config.maxPendingEntries) {
      return Promise.reject(
        new IoError('ERR_LOG_OVERLOADED', `expected fewer than ${this.#o.config.maxPendingEntries} pending entries`, {
          details: { pending: this.pendingCount },
        }),
      );
    }
    return new Promise<AddResult>((resolve, reject) => {
      const now = this.#o.config.now();
      if (this.#pending.length === 0) this.#firstPendingAt = now;
      this.#pending.push({ entry, index: -1, deadline: now + this.#o.config.addTimeoutMs, resolve, reject });
      this.#schedule();
    });
  }

  /**
   * schedule arranges the next batch: at once when full; after batchDelayMs when that is set; in group commit
   * (batchDelayMs 0) at once, except that right after a batch of k entries it waits up to groupCommitWaitMs for k
   * entries, so the k submitters just acknowledged can rejoin the next batch (PostgreSQL's commit_delay /
   * commit_siblings idea). A lone client never waits (k = 1); under load batches grow to the concurrency.
   */
  #schedule(): void {
    if (this.#running || this.#state === 'closed') return;
    const needPublish = this.#published === null || this.#treeSize > this.#published.size;
    if (this.#pending.length === 0 && !needPublish) return;
    const { batchDelayMs, batchMaxEntries, groupCommitWaitMs, now } = this.#o.config;
    const t = now();
    let wait = 0;
    if (this.#retryAt > t) wait = this.#retryAt - t;
    else if (this.#pending.length < batchMaxEntries && !needPublish && this.#state === 'running') {
      if (batchDelayMs > 0) wait = Math.max(0, this.#firstPendingAt + batchDelayMs - t);
      else if (this.#pending.length < Math.min(this.#lastBatchSize, batchMaxEntries)) {
        wait = Math.max(0, this.#lastBatchEnd + groupCommitWaitMs - t);
      }
    }
    if (this.#timer !== undefined) {
      // A waiting timer is cut short when the batch became ready; a pending immediate run stays as it is.
      if (wait > 0 || this.#timerIsImmediate) return;
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const fire = (): void => {
      this.#timer = undefined;
      void this.#runOnce();
    };
    // setImmediate lets the requests already read from sockets join this batch (group commit).
    this.#timerIsImmediate = wait <= 0;
    this.#timer = wait <= 0 ? (setImmediate(fire) as unknown as NodeJS.Timeout) : setTimeout(fire, wait);
  }

  async #runOnce(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    try {
      await this.#step();
      this.#lastBatchEnd = this.#o.config.now();
    } catch (e) {
      if (isTransient(e)) {
        // A storage read failed while publishing: the entries are durable, the publish is retried.
        this.stats.storageErrors++;
        this.#retryAt = this.#o.config.now() + this.#o.config.retryDelayMs;
        this.#log()?.warn({ err: (e as Error).message }, 'publish failed; will retry');
      } else {
        this.#stop(toTrustError(e));
      }
    } finally {
      this.#running = false;
      if (this.#state === 'running' || this.#state === 'closing') this.#schedule();
    }
  }

  /** step sequences at most one batch and publishes a checkpoint covering every durable entry. */
  async #step(): Promise<void> {
    const { storage, config } = this.#o;
    if (this.#resync > 0) {
      if (this.#o.shared === true) {
        await this.#catchUp();
        this.#resync = 0;
      } else await this.#resyncTreeSize();
    }
    const batch = this.#pending.splice(0, config.batchMaxEntries);
    if (this.#pending.length > 0) this.#firstPendingAt = config.now();
    this.#lastBatchSize = batch.length;
    let newRoot: Uint8Array | undefined;
    if (batch.length > 0) {
      const oldSize = this.#treeSize;
      const newSize = oldSize + batch.length;
      const hashStart = storedHashCount(oldSize);
      // Build: every stored hash of the batch, in an overlay until the batch is durable (a failed batch must not
      // leave hashes in the cache at indexes that will be reused).
      const overlay = new Map<number, Uint8Array>();
      const hashes: Uint8Array[] = [];
      const tiles: StoredTile[] = [];
      // The entries of the right-edge bundle so far, then this batch: full bundles are cut from this run.
      const edgeStart = Math.floor(oldSize / TILE_WIDTH) * TILE_WIDTH;
      const run = [...this.#edgeEntries, ...batch.map((w) => w.entry)];
      const build = this.#withHashes((r) => {
        overlay.clear();
        hashes.length = 0;
        tiles.length = 0;
        for (let k = 0; k < batch.length; k++) {
          for (const h of storedHashes(oldSize + k, hashLeaf(batch[k]!.entry), r)) {
            overlay.set(hashStart + hashes.length, h);
            hashes.push(h);
          }
        }
        // The full tiles (and bundles) this batch completes are stored once, as blobs (c2sp.org/tlog-tiles).
        for (const t of tilesForSize(oldSize, newSize)) {
          if (t.width !== TILE_WIDTH) continue;
          tiles.push({ level: t.level, index: t.index, data: readTileData(t, r) });
          if (t.level === 0) {
            const from = t.index * TILE_WIDTH - edgeStart;
            tiles.push({ level: ENTRY_BUNDLE_LEVEL, index: t.index, data: encodeEntryBundle(run.slice(from, from + TILE_WIDTH)) });
          }
        }
        return treeHash(newSize, r);
      }, overlay);
      try {
        try {
          newRoot = await build;
        } catch (e) {
          // Reading the right edge of the tree failed (cold cache): nothing was written; the submitters retry.
          if (!isTransient(e)) throw e;
          this.#failBatch(batch, e);
          return;
        }
        try {
          const t0 = performance.now();
          await storage.appendBatch({
            owner: this.#o.holder.owner,
            oldSize,
            entries: batch.map((w) => w.entry),
            hashStart,
            hashes,
            tiles,
          });
          this.#o.observeCommit?.((performance.now() - t0) / 1000);
        } catch (e) {
          if (this.#o.shared === true && (await this.#lostRace(e, batch, oldSize, newSize))) return;
          const outcome = await this.#resolveAppendFailure(e, oldSize, newSize, hashStart + hashes.length - 1, hashes.at(-1)!);
          if (outcome !== 'landed') {
            // 'unknown': the submitters are told to retry (ERR_LOG_STORAGE's hint says the entry may then appear
            // twice), and the next step re-reads the tree size before building anything.
            if (outcome === 'unknown') this.#resync = batch.length;
            this.#failBatch(batch, e);
            return;
          }
        }
      } catch (e) {
        // Fatal (conflict, lost lease, bug): the batch's submitters are not in any queue #stop will reject.
        const err = toTrustError(e);
        for (const w of batch) w.reject(err);
        throw e;
      }
      // CRASH-SAFE POINT 1: the batch is durable. From here it is only ever published, never dropped.
      for (const [i, h] of overlay) this.#cache.set(i, h);
      this.#treeSize = newSize;
      this.#edgeEntries = run.slice(Math.floor(newSize / TILE_WIDTH) * TILE_WIDTH - edgeStart);
      for (let k = 0; k < batch.length; k++) {
        batch[k]!.index = oldSize + k;
        this.#unacked.push(batch[k]!);
      }
      this.stats.batches++;
      this.stats.entries += batch.length;
      this.#conflicts = 0;
    }
    await this.#publish(newRoot);
  }

  /** failBatch rejects the submitters of a batch that was not stored, and delays the next attempt. */
  #failBatch(batch: Waiter[], e: unknown): void {
    const { config } = this.#o;
    this.stats.storageErrors++;
    this.#retryAt = config.now() + config.retryDelayMs;
    const err = toTrustError(e);
    const out = err.code === 'ERR_LOG_STORAGE' ? err : new IoError('ERR_LOG_STORAGE', err.message, { cause: e });
    for (const w of batch) w.reject(out);
    this.#log()?.warn({ err: out.message, entries: batch.length }, 'batch not stored; submitters told to retry');
  }

  /**
   * resolveAppendFailure decides what a failed appendBatch did: 'landed' if the batch is durable after all (a lost
   * acknowledgement), 'not-landed' if nothing was written, 'unknown' if the state cannot be read. Anything else is a
   * conflict with another writer: fatal.
   */
  async #resolveAppendFailure(
    e: unknown,
    oldSize: number,
    newSize: number,
    lastIndex: number,
    lastHash: Uint8Array,
  ): Promise<'landed' | 'not-landed' | 'unknown'> {
    if (isTrustError(e) && (e.code === 'ERR_LOG_CONFLICT' || e.code === 'ERR_LOG_LEASE_LOST')) throw e;
    let state;
    let h: Uint8Array | undefined;
    try {
      state = await this.#o.storage.load();
      // (Shared mode: other writers may have appended after our batch landed.)
      if (state.treeSize === newSize || (this.#o.shared === true && state.treeSize > newSize)) [h] = await this.#o.storage.readHashes([lastIndex]);
    } catch {
      return 'unknown'; // storage still failing
    }
    if (state.treeSize === oldSize) return 'not-landed';
    if (h !== undefined && bytesEqual(h, lastHash)) {
      this.#log()?.warn({ treeSize: newSize }, 'batch stored despite a storage error');
      return 'landed';
    }
    throw new IoError('ERR_LOG_CONFLICT', `expected tree size ${oldSize} or ${newSize} after a failed write, got ${state.treeSize}`, {
      cause: e,
    });
  }

  /** loadEdgeEntries reads the entries of the right-edge (partial) bundle of a tree of `size` from storage. */
  async #loadEdgeEntries(size: number): Promise<void> {
    const start = Math.floor(size / TILE_WIDTH) * TILE_WIDTH;
    this.#edgeEntries = start === size ? [] : await this.#o.storage.readEntries(start, size);
  }

  /**
   * resyncTreeSize runs before the next batch after an append whose outcome stayed unknown: it adopts the durable
   * tree size (our own batch, if it landed; the lease excludes other writers), to be published like any other.
   */
  async #resyncTreeSize(): Promise<void> {
    const maxGrowth = this.#resync;
    const state = await this.#o.storage.load();
    const grown = state.treeSize - this.#treeSize;
    if (grown !== 0 && grown !== maxGrowth) {
      throw new IoError('ERR_LOG_CONFLICT', `expected tree size ${this.#treeSize} or ${this.#treeSize + maxGrowth}, got ${state.treeSize}`);
    }
    if (grown > 0) this.#log()?.warn({ treeSize: state.treeSize }, 'an unacknowledged batch was stored; publishing it');
    await this.#loadEdgeEntries(state.treeSize);
    this.#treeSize = state.treeSize;
    this.#resync = 0;
  }

  /** publish signs, cosigns and publishes a checkpoint of the whole durable tree, then acknowledges waiters. */
  async #publish(knownRoot: Uint8Array | undefined): Promise<void> {
    const { storage, config } = this.#o;
    if (this.#unknownPublish !== undefined) await this.#resolveUnknownPublish();
    const size = this.#treeSize;
    const prev = this.#published;
    if (prev !== null && prev.size === size) return;
    const root = knownRoot ?? (size === 0 ? emptyTreeRoot() : await this.#withHashes((r) => treeHash(size, r)));
    // Self-check before signing: the new tree must extend the published one (never sign a fork).
    if (prev !== null && prev.size > 0) {
      const proof = await this.#withHashes((r) => proveConsistency(prev.size, size, r));
      try {
        verifyConsistency(prev.size, size, proof, prev.root, root);
      } catch (e) {
        throw new ConfigError('ERR_LOG_STATE_CORRUPT', `the tree of size ${size} does not extend the published ${prev.size}`, {
          cause: e,
        });
      }
    }
    let text = await this.#o.signer.sign(size, root);
    if (this.#o.cosigner) {
      try {
        text = await this.#o.cosigner.cosign({
          text,
          size,
          root,
          prove: (oldSize) => this.#withHashes((r) => proveConsistency(oldSize, size, r)),
        });
      } catch (e) {
        // The entries stay durable; the publish is retried after retryDelayMs (their submitters keep waiting).
        this.#retryAt = config.now() + config.retryDelayMs;
        this.#log()?.warn({ err: (e as Error).message, size }, 'witness cosignatures missing; will retry');
        return;
      }
    }
    const next: PublishedCheckpoint = { size, text };
    try {
      await storage.publishCheckpoint({ owner: this.#o.holder.owner, expected: prev === null ? null : { size: prev.size, text: prev.text }, next });
    } catch (e) {
      if (this.#o.shared === true && isTrustError(e) && e.code === 'ERR_LOG_CONFLICT') {
        // Another writer published first: adopt its checkpoint (and any entries it covers); if the tree is still
        // ahead of it, the next step publishes over it.
        this.stats.conflicts++;
        await this.#catchUp();
        return;
      }
      if (isTrustError(e) && (e.code === 'ERR_LOG_CONFLICT' || e.code === 'ERR_LOG_LEASE_LOST')) throw e;
      // Unknown outcome: read back the latest checkpoint.
      const state = await storage.load().catch(() => undefined);
      if (state?.checkpoint?.text !== text) {
        // Still unknown (the read failed too): settle it before the next compare-and-swap, whose expectation
        // depends on it.
        if (state === undefined) this.#unknownPublish = { size, text, root };
        const unchanged =
          state === undefined ||
          (prev === null ? state.checkpoint === null : state.checkpoint?.text === prev.text);
        if (!unchanged) throw new IoError('ERR_LOG_CONFLICT', 'the published checkpoint changed under this process', { cause: e });
        this.stats.storageErrors++;
        this.#retryAt = config.now() + config.retryDelayMs;
        this.#log()?.warn({ err: (e as Error).message, size }, 'checkpoint not published; will retry');
        return;
      }
    }
    // CRASH-SAFE POINT 2: the checkpoint is published; acknowledge every entry it covers.
    this.#published = { size, text, root };
    this.stats.publishes++;
    this.#ack();
  }

  /**
   * lostRace handles a failed append in shared mode. It returns true when the batch did not land because another
   * writer extended the tree first: the tree is caught up and the batch requeued (or, after SHARED_MAX_CONFLICTS
   * lost races, refused with ERR_LOG_OVERLOADED). It returns false to fall back to the single-writer handling
   * (storage error with our batch possibly stored at oldSize).
   */
  async #lostRace(e: unknown, batch: Waiter[], oldSize: number, newSize: number): Promise<boolean> {
    if (isTrustError(e) && e.code === 'ERR_LOG_LEASE_LOST') return false;
    let grown: number;
    if (isTrustError(e) && e.code === 'ERR_LOG_CONFLICT') {
      grown = Number.POSITIVE_INFINITY;
    } else {
      // Unknown outcome: ours landed only if the entries at [oldSize, newSize) are ours, byte for byte.
      let state;
      try {
        state = await this.#o.storage.load();
        if (state.treeSize === oldSize) return false; // not landed: the usual handling tells the submitters
        if (state.treeSize >= newSize) {
          const stored = await this.#o.storage.readEntries(oldSize, newSize);
          if (stored.every((x, k) => bytesEqual(x, batch[k]!.entry))) return false; // landed: the usual handling adopts it
        }
      } catch {
        return false; // still failing: the usual handling ('unknown', resync before the next batch)
      }
      grown = state.treeSize - oldSize;
    }
    if (grown <= 0) return false;
    this.stats.conflicts++;
    await this.#catchUp();
    if (++this.#conflicts > SHARED_MAX_CONFLICTS) {
      this.#conflicts = 0;
      const err = new IoError('ERR_LOG_OVERLOADED', `the entry lost the race for the log to other writers ${SHARED_MAX_CONFLICTS} times; it is not in the log`, {
        details: { conflicts: SHARED_MAX_CONFLICTS },
      });
      for (const w of batch) w.reject(err);
      return true;
    }
    // Rebuild the same batch, first in line, on the caught-up tree (a short random pause breaks lockstep).
    this.#pending.unshift(...batch);
    this.#retryAt = this.#o.config.now() + Math.floor(Math.random() * Math.min(this.#conflicts, 8));
    return true;
  }

  /**
   * catchUp (shared mode) follows the other writers: it reads the entries they appended after our tree size,
   * recomputes their stored hashes and checks them against the stored ones (a mismatch is ERR_LOG_STATE_CORRUPT:
   * never build on a tree we cannot reproduce), then adopts the newest stored checkpoint.
   */
  async #catchUp(): Promise<void> {
    const { storage } = this.#o;
    const state = await storage.load();
    const from = this.#treeSize;
    if (state.treeSize < from) {
      throw new ConfigError('ERR_LOG_STATE_CORRUPT', `expected a stored tree of at least ${from} entries, got ${state.treeSize}`);
    }
    for (let start = from; start < state.treeSize; start += CATCH_UP_CHUNK) {
      const end = Math.min(state.treeSize, start + CATCH_UP_CHUNK);
      const entries = await storage.readEntries(start, end);
      const hashStart = storedHashCount(start);
      const overlay = new Map<number, Uint8Array>();
      const computed = await this.#withHashes((r) => {
        overlay.clear();
        const out: Uint8Array[] = [];
        for (let k = 0; k < entries.length; k++) {
          for (const h of storedHashes(start + k, hashLeaf(entries[k]!), r)) {
            overlay.set(hashStart + out.length, h);
            out.push(h);
          }
        }
        return out;
      }, overlay);
      const stored = await storage.readHashes(computed.map((_, k) => hashStart + k));
      for (let k = 0; k < computed.length; k++) {
        if (!bytesEqual(computed[k]!, stored[k]!)) {
          throw new ConfigError('ERR_LOG_STATE_CORRUPT', `stored hash ${hashStart + k} does not match the entries another writer appended`);
        }
      }
      for (const [i, h] of overlay) this.#cache.set(i, h);
      this.#treeSize = end;
    }
    if (state.treeSize > from) {
      await this.#loadEdgeEntries(state.treeSize);
      this.stats.caughtUp += state.treeSize - from;
    }
    if (state.checkpoint !== null) await this.#adopt(state.checkpoint);
  }

  /**
   * adopt takes a stored checkpoint another writer published as ours when it is newer: it must verify under the
   * log key (all writers share it), lie within the caught-up tree, hash to the stored tree and extend ours.
   */
  async #adopt(cp: PublishedCheckpoint): Promise<void> {
    const prev = this.#published;
    if (prev !== null && cp.size <= prev.size) return;
    let opened: { size: number; root: Uint8Array };
    try {
      opened = this.#o.signer.open(cp.text);
    } catch (e) {
      throw new ConfigError('ERR_LOG_STATE_CORRUPT', 'a checkpoint another writer stored does not verify under this log key (writers of a shared log must share its key)', {
        cause: e,
      });
    }
    if (opened.size !== cp.size || cp.size > this.#treeSize) {
      throw new ConfigError('ERR_LOG_STATE_CORRUPT', `expected a stored checkpoint within the tree of ${this.#treeSize}, got size ${opened.size}`);
    }
    const root = await this.#withHashes((r) => treeHash(cp.size, r));
    if (!bytesEqual(root, opened.root)) {
      throw new ConfigError('ERR_LOG_STATE_CORRUPT', `the stored tree of size ${cp.size} does not hash to the stored checkpoint root`);
    }
    if (prev !== null && prev.size > 0) {
      const proof = await this.#withHashes((r) => proveConsistency(prev.size, cp.size, r));
      try {
        verifyConsistency(prev.size, cp.size, proof, prev.root, root);
      } catch (e) {
        throw new ConfigError('ERR_LOG_STATE_CORRUPT', `the stored checkpoint of size ${cp.size} does not extend the published ${prev.size}`, { cause: e });
      }
    }
    this.#published = { size: cp.size, text: cp.text, root };
    this.#ack();
  }

  /** poll (shared mode, idle) follows the other writers so the read path serves their entries and checkpoints. */
  async #poll(): Promise<void> {
    if (this.#running || this.#state !== 'running' || this.#pending.length > 0) return;
    this.#running = true;
    try {
      await this.#catchUp();
    } catch (e) {
      if (isTransient(e)) this.#log()?.warn({ err: (e as Error).message }, 'following the other writers failed; will retry');
      else this.#stop(toTrustError(e));
    } finally {
      this.#running = false;
      if (this.#state === 'running') this.#schedule();
    }
  }

  /** resolveUnknownPublish adopts a checkpoint whose publish outcome was unknown if it did land. */
  async #resolveUnknownPublish(): Promise<void> {
    const attempted = this.#unknownPublish!;
    const state = await this.#o.storage.load();
    const prev = this.#published;
    if (state.checkpoint?.text === attempted.text) {
      this.#published = attempted;
      this.stats.publishes++;
      this.#ack();
    } else if (prev === null ? state.checkpoint !== null : state.checkpoint?.text !== prev.text) {
      throw new IoError('ERR_LOG_CONFLICT', 'the published checkpoint changed under this process');
    }
    this.#unknownPublish = undefined;
  }

  #ack(): void {
    const pub = this.#published;
    if (pub === null) return;
    let n = 0;
    while (n < this.#unacked.length && this.#unacked[n]!.index < pub.size) n++;
    if (n === 0) return;
    const done = this.#unacked.splice(0, n);
    // Proofs for the batch just published read only the cache (the batch's hashes and the tree's right edge).
    void this.#withHashes((r) =>
      done.map((w) => ({ index: w.index, checkpoint: pub.text, size: pub.size, proof: proveInclusion(w.index, pub.size, r) })),
    ).then(
      (results) => {
        for (let i = 0; i < done.length; i++) done[i]!.resolve(results[i]!);
      },
      (e: unknown) => {
        const err = toTrustError(e);
        for (const w of done) w.reject(err);
      },
    );
  }

  /**
   * withHashes runs a synchronous Merkle computation over the cache (and an overlay); on a miss it fetches the
   * missing stored hashes from storage and runs it again. Stored hashes are write-once, so a retry sees the same
   * values, and the set of indexes a computation reads depends only on sizes and indexes, never on hash values.
   */
  async #withHashes<T>(fn: (r: HashReader) => T, overlay?: Map<number, Uint8Array>): Promise<T> {
    const fetched = new Map<number, Uint8Array>();
    for (let attempt = 0; ; attempt++) {
      const misses: number[] = [];
      const reader: HashReader = {
        readHashes: (indexes) => {
          const out = new Array<Uint8Array>(indexes.length);
          for (let k = 0; k < indexes.length; k++) {
            const i = indexes[k]!;
            const h = overlay?.get(i) ?? this.#cache.get(i) ?? fetched.get(i);
            if (h === undefined) misses.push(i);
            out[k] = h ?? ZERO_HASH;
          }
          if (misses.length > 0) throw MISS;
          return out;
        },
      };
      try {
        return fn(reader);
      } catch (e) {
        if (e !== MISS) throw e;
      }
      if (attempt >= 64) throw new Error('tlog: hash cache keeps missing');
      const got = await this.#o.storage.readHashes(misses);
      for (let k = 0; k < misses.length; k++) {
        fetched.set(misses[k]!, got[k]!);
        this.#cache.set(misses[k]!, got[k]!);
      }
    }
  }

  /** readHashes reads stored hashes through the cache (for the tile read path). */
  async readHashes(indexes: readonly number[]): Promise<Uint8Array[]> {
    const out = new Array<Uint8Array>(indexes.length);
    const miss: number[] = [];
    const missAt: number[] = [];
    for (let k = 0; k < indexes.length; k++) {
      const h = this.#cache.get(indexes[k]!);
      if (h === undefined) {
        miss.push(indexes[k]!);
        missAt.push(k);
      } else out[k] = h;
    }
    if (miss.length > 0) {
      const got = await this.#o.storage.readHashes(miss);
      for (let k = 0; k < miss.length; k++) out[missAt[k]!] = got[k]!;
    }
    return out;
  }

  /** proveInclusion returns an inclusion proof of index in the tree of the given (durable) size. */
  proveInclusion(index: number, size: number): Promise<Uint8Array[]> {
    return this.#withHashes((r) => proveInclusion(index, size, r));
  }

  /** proveConsistency returns a consistency proof between two durable tree sizes. */
  proveConsistency(size1: number, size2: number): Promise<Uint8Array[]> {
    return this.#withHashes((r) => proveConsistency(size1, size2, r));
  }

  async #renewLease(): Promise<void> {
    if (this.#state !== 'running' && this.#state !== 'closing') return;
    try {
      await this.#o.storage.acquireLease({ holder: this.#holder(), now: this.#o.config.now(), isDead: this.#o.isDead });
    } catch (e) {
      if (isTrustError(e) && e.code === 'ERR_LOG_LOCKED') {
        this.#stop(new IoError('ERR_LOG_LEASE_LOST', 'another process took the log lease', { cause: e }));
      } else {
        this.#log()?.warn({ err: (e as Error).message }, 'lease renewal failed; will retry');
      }
    }
  }

  /** sweep rejects entries that waited longer than addTimeoutMs. */
  #sweep(): void {
    const t = this.#o.config.now();
    const expired = (w: Waiter): boolean => w.deadline <= t;
    if (this.#pending.some(expired)) {
      const keep: Waiter[] = [];
      for (const w of this.#pending) {
        if (expired(w)) {
          w.reject(new IoError('ERR_LOG_OVERLOADED', `the entry was not sequenced within ${this.#o.config.addTimeoutMs} ms; it is not in the log`));
        } else keep.push(w);
      }
      this.#pending = keep;
    }
    if (this.#unacked.some(expired)) {
      const keep: Waiter[] = [];
      for (const w of this.#unacked) {
        if (expired(w)) {
          w.reject(
            new IoError('ERR_LOG_NOT_PUBLISHED', `entry ${w.index} is durable but no checkpoint covering it was published in time`, {
              details: { index: w.index },
            }),
          );
        } else keep.push(w);
      }
      this.#unacked = keep;
    }
  }

  #stop(e: TrustError): void {
    if (this.#state === 'closed') return;
    const first = this.#fatal === undefined && this.#state === 'running';
    this.#fatal ??= e;
    this.#state = 'closed';
    this.#clearTimers();
    const err = this.#fatal;
    for (const w of this.#pending.splice(0)) w.reject(err);
    for (const w of this.#unacked.splice(0)) w.reject(err);
    this.#log()?.error({ err: e.message, code: e.code }, 'sequencer stopped');
    if (first) this.#o.onFatal?.(e);
  }

  #clearTimers(): void {
    if (this.#timer !== undefined) {
      if (this.#timerIsImmediate) clearImmediate(this.#timer as unknown as NodeJS.Immediate);
      else clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#leaseTimer) clearInterval(this.#leaseTimer);
    if (this.#pollTimer) clearInterval(this.#pollTimer);
    if (this.#sweepTimer) clearInterval(this.#sweepTimer);
  }

  /**
   * close stops accepting entries, sequences and publishes what is pending (bounded by addTimeoutMs), releases
   * the lease and closes nothing else (the caller owns the storage).
   */
  async close(): Promise<void> {
    if (this.#state === 'new') {
      this.#state = 'closed';
      return;
    }
    if (this.#state !== 'running') return;
    this.#state = 'closing';
    const deadline = this.#o.config.now() + this.#o.config.addTimeoutMs;
    // Drain: keep sequencing and publishing while submitters wait (batchDelayMs no longer applies).
    while (
      this.#state === 'closing' &&
      (this.#pending.length > 0 || this.#unacked.length > 0 || this.#running) &&
      this.#o.config.now() < deadline
    ) {
      this.#schedule();
      await new Promise((r) => setTimeout(r, 2));
    }
    while (this.#running) await new Promise((r) => setTimeout(r, 2));
    if (this.#state !== 'closing') return; // stopped by a fatal error meanwhile
    this.#state = 'closed';
    this.#clearTimers();
    const err = new IoError('ERR_LOG_CLOSED', 'the log stopped before the entry was published');
    for (const w of this.#pending.splice(0)) w.reject(err);
    for (const w of this.#unacked.splice(0)) w.reject(err);
    // A shared lease is held by every writer together: one leaving must not unlock the others (it expires).
    if (this.#o.shared !== true) await this.#o.storage.releaseLease(this.#o.holder.owner).catch(() => undefined);
  }
}

/** isTransient tells storage failures worth a retry from conflicts, corruption and bugs (fatal). */
function isTransient(e: unknown): boolean {
  return isTrustError(e) && e.code === 'ERR_LOG_STORAGE';
}

function toTrustError(e: unknown): TrustError {
  if (isTrustError(e)) return e;
  return new IoError('ERR_LOG_STORAGE', `internal error: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
}
