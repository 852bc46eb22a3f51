/**
 * log/monitor — following a C2SP tlog-tiles log as a monitor does, and verifying proofs from its tiles.
 *
 * `checkLog(previous)` fetches the log's checkpoint, verifies the log's signature (c2sp.org/signed-note) and origin,
 * authenticates the tiles at the tree's right edge against the signed root, and proves consistency with the last
 * verified checkpoint from tiles (RFC 6962 §2.1.2 via `tileHashReader`):
 * ```
 * new size > old   consistency proof old → new from tiles, verified against both signed roots   → 'grew'
 * new size = old   the roots must be equal                                                       → 'unchanged'
 * new size < old   a stale cache or a rollback: consistency new → old from the old tree's tiles   → 'stale'
 * ```
 * Any failure to link the two signed roots is a fork: `VerificationError('ERR_LOG_FORK')` whose details carry both
 * signed checkpoints (evidence to keep). A bad signature fails with the note errors (`ERR_NOTE_SIGNATURE_INVALID`,
 * `ERR_NOTE_UNKNOWN_KEY`); tiles that contradict the signed root with `ERR_TLOG_TILE_INVALID`.
 *
 * Trust boundary: the checkpoint opener (the log's verifier key; see note/checkpoint `openCheckpoint`) is trusted,
 * and the previously verified checkpoint is re-opened with it; everything fetched is not. The opener is injected, so
 * the monitor depends on a verifying function rather than on a key format.
 */
import { VerificationError, isTrustError } from '../errors.ts';
import type { LogClient } from './client.ts';
import {
  bytesEqual,
  hashLeaf,
  proveConsistencyAsync,
  proveInclusionAsync,
  storedHashIndex,
  treeHashAsync,
  verifyConsistency,
  verifyInclusion,
} from '../tlog/merkle.ts';
import { tileHashReader } from '../tlog/tile.ts';

/** Checkpoint is a verified tree head (the shape of note/checkpoint's Checkpoint). */
export interface Checkpoint {
  readonly origin: string;
  readonly size: number;
  readonly rootHash: Uint8Array;
}

/**
 * CheckpointOpener verifies a signed checkpoint note with the log's key and origin and returns its tree head, or
 * throws a coded error (e.g. `(t) => openCheckpoint(t, parseVerifierKey(vkey)).checkpoint`).
 */
export type CheckpointOpener = (text: string | Uint8Array) => Checkpoint;

/** MonitorChange classifies a step of {@link checkLog}. */
export type MonitorChange = 'first' | 'unchanged' | 'grew' | 'stale';

/** MonitorResult is one verified observation of the log. */
export interface MonitorResult {
  change: MonitorChange;
  /** text is the signed checkpoint now verified (the new state to keep, unless change is 'stale'). */
  text: string;
  checkpoint: Checkpoint;
  /** previous is the previously verified checkpoint, if any. */
  previous?: Checkpoint;
}

/** CheckLogOptions names the log and how to verify its checkpoints. */
export interface CheckLogOptions {
  client: LogClient;
  open: CheckpointOpener;
}

function fork(prevText: string, newText: string, why: string, cause?: unknown): VerificationError {
  return new VerificationError('ERR_LOG_FORK', `the log forked: ${why}`, {
    ...(cause === undefined ? {} : { cause }),
    details: { verifiedCheckpoint: prevText, newCheckpoint: newText },
  });
}

/**
 * proveConsistencyFromTiles checks that checkpoint `a` is a prefix of checkpoint `b` (a.size ≤ b.size) using b's
 * tiles. Throws ERR_LOG_FORK (with both texts) when it is not; transport and tile errors pass through.
 */
export async function proveConsistencyFromTiles(
  client: LogClient,
  a: { cp: Checkpoint; text: string },
  b: { cp: Checkpoint; text: string },
): Promise<Uint8Array[]> {
  if (a.cp.size === b.cp.size) {
    if (!bytesEqual(a.cp.rootHash, b.cp.rootHash)) throw fork(a.text, b.text, `two roots for size ${a.cp.size}`);
    return [];
  }
  if (a.cp.size === 0) return []; // the empty tree is a prefix of every tree
  const reader = tileHashReader(b.cp.size, b.cp.rootHash, client.tileReader());
  const proof = await proveConsistencyAsync(a.cp.size, b.cp.size, reader);
  try {
    verifyConsistency(a.cp.size, b.cp.size, proof, a.cp.rootHash, b.cp.rootHash);
  } catch (e) {
    if (isTrustError(e) && e.code === 'ERR_TLOG_CONSISTENCY_INVALID') {
      throw fork(a.text, b.text, `the tree of size ${a.cp.size} is not a prefix of the tree of size ${b.cp.size}`, e);
    }
    throw e;
  }
  return proof;
}

/** checkLog performs one monitoring step against `previous` (a signed checkpoint text verified before, or null). */
export async function checkLog(previous: string | null, o: CheckLogOptions): Promise<MonitorResult> {
  const prevCp = previous === null ? undefined : o.open(previous);
  const text = await o.client.fetchCheckpoint();
  const cp = o.open(text);
  // The tiles at the right edge must hash to the signed root (a log serving other tiles is misbehaving too).
  if (cp.size > 0) await treeHashAsync(cp.size, tileHashReader(cp.size, cp.rootHash, o.client.tileReader()));
  if (prevCp === undefined || previous === null) return { change: 'first', text, checkpoint: cp };
  const prev = { cp: prevCp, text: previous };
  const cur = { cp, text };
  if (cp.size >= prevCp.size) {
    await proveConsistencyFromTiles(o.client, prev, cur);
    return { change: cp.size === prevCp.size ? 'unchanged' : 'grew', text, checkpoint: cp, previous: prevCp };
  }
  // Smaller than what we verified: consistent means a stale copy, otherwise a fork. The proof needs the tiles of
  // the larger, previously verified tree: tiles are immutable, so a log that no longer serves them rolled back.
  try {
    await proveConsistencyFromTiles(o.client, cur, prev);
  } catch (e) {
    if (isTrustError(e) && e.code === 'ERR_LOG_TILE_NOT_FOUND') {
      throw fork(previous, text, `the log went back from size ${prevCp.size} to ${cp.size} and no longer serves the tiles of size ${prevCp.size} (rollback)`, e);
    }
    throw e;
  }
  return { change: 'stale', text, checkpoint: cp, previous: prevCp };
}

/** InclusionFromTiles is an inclusion proof obtained (and verified) from a log's tiles. */
export interface InclusionFromTiles {
  text: string;
  checkpoint: Checkpoint;
  index: number;
  entry: Uint8Array;
  proof: Uint8Array[];
}

/**
 * inclusionFromTiles fetches the log's checkpoint, the entry at `index` and its inclusion proof from the tiles, and
 * verifies them (signature, tiles against the root, leaf hash of the entry, proof). With `entry`, the logged entry
 * must be exactly those bytes (ERR_LOG_ENTRY_MISMATCH otherwise).
 */
export async function inclusionFromTiles(o: CheckLogOptions & { index: number; entry?: Uint8Array }): Promise<InclusionFromTiles> {
  const text = await o.client.fetchCheckpoint();
  const cp = o.open(text);
  const reader = tileHashReader(cp.size, cp.rootHash, o.client.tileReader());
  const proof = await proveInclusionAsync(o.index, cp.size, reader);
  const [leaf] = await reader.readHashes([storedHashIndex(0, o.index)]);
  const [logged] = await o.client.fetchEntries(o.index, o.index + 1, cp.size);
  if (logged === undefined || !bytesEqual(hashLeaf(logged), leaf!)) {
    throw new VerificationError('ERR_TLOG_TILE_INVALID', `the entry bundle does not match the level-0 tile at index ${o.index}`);
  }
  if (o.entry !== undefined && !bytesEqual(o.entry, logged)) {
    throw new VerificationError('ERR_LOG_ENTRY_MISMATCH', `the log holds other bytes at index ${o.index}`, { details: { index: o.index } });
  }
  verifyInclusion(hashLeaf(logged), o.index, cp.size, proof, cp.rootHash);
  return { text, checkpoint: cp, index: o.index, entry: logged, proof };
}
