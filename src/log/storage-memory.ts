/**
 * log/storage-memory — an in-memory {@link LogStorage} for tests (with fault hooks, after Sunlight's
 * `MemoryBackend`): it keeps the same compare-and-swap, lease and write-once rules as the SQLite backend, and adds
 * - fault hooks: `failNext(op, 'fail-before')` makes the next call fail WITHOUT persisting anything ("fail and do not
 *   persist"), `failNext(op, 'fail-after')` persists the change and then fails ("fail but persist": the caller cannot
 *   tell that the write landed, like a lost commit acknowledgement);
 * - invariant checks: an entry, a stored hash or an immutable full tile / entry bundle is never written twice, the
 *   tree never shrinks, a checkpoint is never published beyond the durable tree or below the previous one. A
 *   violation is a bug in the caller: it is recorded in `violations` and thrown as a plain Error.
 *
 * `connect()` returns a second handle on the same data, to play a second process on the same data directory.
 */
import { IoError, ConfigError } from '../errors.ts';
import { HASH_BYTES } from '../tlog/merkle.ts';
import {
  MAX_ENTRY_BYTES,
  type AppendBatch,
  type LeaseHolder,
  type LeaseRequest,
  type LogState,
  type LogStorage,
  type PublishRequest,
  type PublishedCheckpoint,
} from './storage.ts';

/** StorageOp names the operations that can be made to fail. */
export type StorageOp =
  | 'load'
  | 'acquireLease'
  | 'appendBatch'
  | 'publishCheckpoint'
  | 'readHashes'
  | 'readEntries'
  | 'readTile'
  | 'hasCheckpointSizeIn';

/** FaultMode: 'fail-before' = fail and do not persist; 'fail-after' = persist, then fail. */
export type FaultMode = 'fail-before' | 'fail-after';

interface MemoryLogData {
  entries: Uint8Array[];
  hashes: Uint8Array[];
  /** tiles holds the full tiles and bundles by "level/index". */
  tiles: Map<string, Uint8Array>;
  checkpoint: PublishedCheckpoint | null;
  sizes: number[];
  lease: LeaseHolder | null;
  faults: Array<{ op: StorageOp; mode: FaultMode }>;
  violations: string[];
  /** writes counts successful appendBatch and publishCheckpoint calls, for tests. */
  writes: { appendBatch: number; publishCheckpoint: number };
}

/** MemoryStorage is the test fake; see the module comment. */
export class MemoryStorage implements LogStorage {
  readonly #d: MemoryLogData;
  #closed = false;

  constructor(data?: MemoryLogData) {
    this.#d = data ?? {
      entries: [],
      hashes: [],
      tiles: new Map(),
      checkpoint: null,
      sizes: [],
      lease: null,
      faults: [],
      violations: [],
      writes: { appendBatch: 0, publishCheckpoint: 0 },
    };
  }

  /** connect returns another handle on the same data (a second process on the same data directory). */
  connect(): MemoryStorage {
    return new MemoryStorage(this.#d);
  }

  /** failNext queues a fault for the next `times` calls of op. */
  failNext(op: StorageOp, mode: FaultMode, times = 1): void {
    for (let i = 0; i < times; i++) this.#d.faults.push({ op, mode });
  }

  /** clearFaults drops every queued fault. */
  clearFaults(): void {
    this.#d.faults.length = 0;
  }

  /** pendingFaults is the number of queued faults not yet triggered. */
  get pendingFaults(): number {
    return this.#d.faults.length;
  }

  /** violations lists invariant violations seen so far (must stay empty). */
  get violations(): readonly string[] {
    return this.#d.violations;
  }

  /** writes counts successful writes. */
  get writes(): Readonly<{ appendBatch: number; publishCheckpoint: number }> {
    return this.#d.writes;
  }

  /** treeSize is the durable tree size (synchronous, for tests). */
  get treeSize(): number {
    return this.#d.entries.length;
  }

  /** entryAt returns a stored entry (synchronous, for tests). */
  entryAt(i: number): Uint8Array | undefined {
    return this.#d.entries[i];
  }

  #fault(op: StorageOp): FaultMode | undefined {
    const i = this.#d.faults.findIndex((f) => f.op === op);
    if (i < 0) return undefined;
    const [f] = this.#d.faults.splice(i, 1);
    return f?.mode;
  }

  #injected(op: StorageOp, mode: FaultMode): IoError {
    return new IoError('ERR_LOG_STORAGE', `${op} failed (injected ${mode} fault)`);
  }

  #violation(msg: string): never {
    this.#d.violations.push(msg);
    throw new Error(`tlog storage invariant violated: ${msg}`);
  }

  /** run applies the fault protocol around a synchronous operation body. */
  #run<T>(op: StorageOp, body: () => T): Promise<T> {
    try {
      if (this.#closed) throw new IoError('ERR_LOG_CLOSED', 'the log storage is closed');
      const mode = this.#fault(op);
      if (mode === 'fail-before') throw this.#injected(op, mode);
      const r = body();
      if (mode === 'fail-after') throw this.#injected(op, mode);
      return Promise.resolve(r);
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
  }

  load(): Promise<LogState> {
    return this.#run('load', () => ({ treeSize: this.#d.entries.length, checkpoint: this.#d.checkpoint }));
  }

  acquireLease(request: LeaseRequest): Promise<void> {
    return this.#run('acquireLease', () => {
      const cur = this.#d.lease;
      if (cur && cur.owner !== request.holder.owner && cur.expiresAt > request.now && !request.isDead(cur)) {
        throw new ConfigError('ERR_LOG_LOCKED', `the log is held by pid ${cur.pid} on ${cur.host}`, {
          details: { pid: cur.pid, host: cur.host, expiresAt: cur.expiresAt },
        });
      }
      this.#d.lease = { ...request.holder };
    });
  }

  releaseLease(owner: string): Promise<void> {
    if (this.#d.lease?.owner === owner) this.#d.lease = null;
    return Promise.resolve();
  }

  #checkOwner(owner: string): void {
    if (this.#d.lease?.owner !== owner) {
      throw new IoError('ERR_LOG_LEASE_LOST', 'this process no longer holds the log lease');
    }
  }

  appendBatch(batch: AppendBatch): Promise<void> {
    return this.#run('appendBatch', () => {
      this.#checkOwner(batch.owner);
      const d = this.#d;
      if (d.entries.length !== batch.oldSize || d.hashes.length !== batch.hashStart) {
        throw new IoError(
          'ERR_LOG_CONFLICT',
          `expected tree size ${batch.oldSize} (${batch.hashStart} hashes), got ${d.entries.length} (${d.hashes.length})`,
        );
      }
      for (const e of batch.entries) if (e.length > MAX_ENTRY_BYTES) this.#violation(`entry of ${e.length} bytes`);
      for (const h of batch.hashes) if (h.length !== HASH_BYTES) this.#violation(`hash of ${h.length} bytes`);
      // Write-once (duty 3): an index below the current length would rewrite an immutable tile or bundle.
      for (let k = 0; k < batch.entries.length; k++) {
        if (d.entries[batch.oldSize + k] !== undefined) this.#violation(`entry ${batch.oldSize + k} rewritten`);
      }
      for (let k = 0; k < batch.hashes.length; k++) {
        if (d.hashes[batch.hashStart + k] !== undefined) this.#violation(`stored hash ${batch.hashStart + k} rewritten`);
      }
      for (const t of batch.tiles) {
        // Sunlight's MemoryBackend invariant: an immutable tile is never uploaded twice (let alone changed).
        if (d.tiles.has(`${t.level}/${t.index}`)) this.#violation(`immutable tile ${t.level}/${t.index} rewritten`);
        if (t.level >= 0 && t.data.length !== 8192) this.#violation(`full tile ${t.level}/${t.index} of ${t.data.length} bytes`);
      }
      // Copies: the caller may reuse its buffers.
      for (const e of batch.entries) d.entries.push(Uint8Array.from(e));
      for (const h of batch.hashes) d.hashes.push(Uint8Array.from(h));
      for (const t of batch.tiles) d.tiles.set(`${t.level}/${t.index}`, Uint8Array.from(t.data));
      d.writes.appendBatch++;
    });
  }

  publishCheckpoint(request: PublishRequest): Promise<void> {
    return this.#run('publishCheckpoint', () => {
      this.#checkOwner(request.owner);
      const d = this.#d;
      const { expected, next } = request;
      const same =
        expected === null
          ? d.checkpoint === null
          : d.checkpoint !== null && d.checkpoint.size === expected.size && d.checkpoint.text === expected.text;
      if (!same) throw new IoError('ERR_LOG_CONFLICT', 'the published checkpoint changed under this process');
      if (next.size > d.entries.length) this.#violation(`checkpoint ${next.size} beyond tree ${d.entries.length}`);
      if (d.checkpoint && next.size < d.checkpoint.size) {
        this.#violation(`checkpoint moved back from ${d.checkpoint.size} to ${next.size}`);
      }
      d.checkpoint = { size: next.size, text: next.text };
      if (!d.sizes.includes(next.size)) {
        d.sizes.push(next.size);
        d.sizes.sort((a, b) => a - b);
      }
      d.writes.publishCheckpoint++;
    });
  }

  readHashes(indexes: readonly number[]): Promise<Uint8Array[]> {
    return this.#run('readHashes', () =>
      indexes.map((i) => {
        const h = this.#d.hashes[i];
        if (!h) throw new ConfigError('ERR_LOG_STATE_CORRUPT', `stored hash ${i} is missing`, { details: { index: i } });
        return h;
      }),
    );
  }

  readEntries(start: number, end: number): Promise<Uint8Array[]> {
    return this.#run('readEntries', () => {
      if (start < 0 || end > this.#d.entries.length || start > end) {
        throw new ConfigError('ERR_LOG_STATE_CORRUPT', `expected entries within [0, ${this.#d.entries.length}), got [${start}, ${end})`);
      }
      return this.#d.entries.slice(start, end);
    });
  }

  readTile(level: number, index: number): Promise<Uint8Array | null> {
    return this.#run('readTile', () => this.#d.tiles.get(`${level}/${index}`) ?? null);
  }

  /** tileCount is the number of stored full tiles and bundles (for tests). */
  get tileCount(): number {
    return this.#d.tiles.size;
  }

  hasCheckpointSizeIn(lo: number, hi: number): Promise<boolean> {
    return this.#run('hasCheckpointSizeIn', () => this.#d.sizes.some((s) => s >= lo && s < hi));
  }

  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }
}
