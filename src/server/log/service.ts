/**
 * server/log/service — one running log: storage + sequencer (write path) + tile server (read path), exposed to the
 * HTTP plugin as a {@link LogHttpBackend}. Lifecycle: {@link LogService.start} takes the lease, recovers and
 * publishes; {@link LogService.close} drains pending entries, releases the lease and closes the storage.
 */
import type { TrustError } from '../../errors.ts';
import {
  Sequencer,
  type AddResult,
  type CheckpointCosigner,
  type CheckpointSigner,
  type SequencerLogger,
} from '../../log/sequencer.ts';
import type { LogStorage, PublishedCheckpoint } from '../../log/storage.ts';
import type { LogServiceConfig } from './config.ts';
import { isHolderDead, leaseIdentity } from './lease.ts';
import type { LogHttpBackend } from './plugin.ts';
import { TileServer } from './tiles.ts';

/** LogServiceInit is everything a log needs to run. */
export interface LogServiceInit {
  storage: LogStorage;
  signer: CheckpointSigner;
  cosigner?: CheckpointCosigner | undefined;
  config: LogServiceConfig;
  logger?: SequencerLogger | undefined;
  /** onFatal is told when the log stops on its own (lost lease, conflict, corrupt state). */
  onFatal?: ((e: TrustError) => void) | undefined;
  /** shared: several processes with the same log key write this (PostgreSQL) log; log/sequencer "Shared mode". */
  shared?: boolean | undefined;
  /** observeCommit is told the duration of each group commit (seconds; log/sequencer). */
  observeCommit?: ((seconds: number) => void) | undefined;
  /** closeStorage closes the storage on close() (default true). */
  closeStorage?: boolean;
}

/** LogService is a running log. */
export class LogService implements LogHttpBackend {
  readonly sequencer: Sequencer;
  readonly tiles: TileServer;
  readonly #init: LogServiceInit;

  private constructor(init: LogServiceInit) {
    this.#init = init;
    this.sequencer = new Sequencer({
      storage: init.storage,
      signer: init.signer,
      cosigner: init.cosigner,
      config: init.config,
      holder: leaseIdentity(),
      isDead: isHolderDead,
      logger: init.logger,
      onFatal: init.onFatal,
      shared: init.shared,
      observeCommit: init.observeCommit,
    });
    const seq = this.sequencer;
    this.tiles = new TileServer(
      {
        publishedSize: () => seq.checkpoint?.size ?? 0,
        readHashes: (ix) => seq.readHashes(ix),
        readEntries: (a, b) => init.storage.readEntries(a, b),
        readTile: (level, index) => init.storage.readTile(level, index),
        hasCheckpointSizeIn: (lo, hi) => init.storage.hasCheckpointSizeIn(lo, hi),
      },
      init.config.tileCacheBytes,
    );
  }

  /** start opens the log for writing: lease, recovery, first checkpoint. */
  static async start(init: LogServiceInit): Promise<LogService> {
    const s = new LogService(init);
    await s.sequencer.start();
    return s;
  }

  add(entry: Uint8Array): Promise<AddResult> {
    return this.sequencer.add(entry);
  }

  checkpoint(): PublishedCheckpoint | null {
    return this.sequencer.checkpoint;
  }

  readTile(path: string): Promise<Uint8Array> {
    return this.tiles.read(path);
  }

  /** readEntries returns the durable entries with index in [start, end) (the dashboard's entry lookup). */
  readEntries(start: number, end: number): Promise<Uint8Array[]> {
    return this.#init.storage.readEntries(start, end);
  }

  /** close drains, releases the lease and closes the storage (unless closeStorage is false). */
  async close(): Promise<void> {
    await this.sequencer.close();
    if (this.#init.closeStorage !== false) await this.#init.storage.close();
  }
}
