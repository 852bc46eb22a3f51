/**
 * manifest/artifact — checking a file against a VERIFIED manifest (the guide's `phase-verify manifest.json vmlinuz`).
 *
 * The file must match a signed entry by filename (or artifact name); its size is compared first (cheap, and it
 * bounds the hashing work), then every supported hash present in the entry is computed in one pass over the same open
 * descriptor (a small artifact read whole, a large one streamed; see SYNC_HASH_MAX_BYTES) and compared in constant
 * time. Unknown algorithms are ignored when a supported one is
 * present; an entry offering only unknown algorithms is refused.
 */
import { closeSync } from 'node:fs';
import { basename } from 'node:path';
import { constantTimeEqual, createMultiHasher, type HashAlgorithm } from '../crypto/hash.ts';
import { decodeHex } from '../encoding/bytes.ts';
import { toIoError, VerificationError } from '../errors.ts';
import { openRegularFile } from '../io/files.ts';
import { hashOpenFile } from '../io/hash-file.ts';
import { openRegularFileSync, readOpenedSync } from '../io/read-sync.ts';
import { artifactHashes, type ManifestArtifact } from './manifest.ts';
import type { VerifiedManifest } from './verify.ts';

export interface VerifiedArtifact {
  name: string;
  filename: string;
  size: number;
  /** algorithms that were computed and matched. */
  matched: HashAlgorithm[];
}

/** findArtifact looks an artifact up by filename, then by artifact name. */
export function findArtifact(vm: VerifiedManifest, fileOrName: string): { name: string; artifact: ManifestArtifact } {
  const base = basename(fileOrName);
  for (const [name, a] of vm.manifest.artifacts) if (a.filename === base) return { name, artifact: a };
  const byName = vm.manifest.artifacts.get(base);
  if (byName) return { name: base, artifact: byName };
  throw new VerificationError('ERR_ARTIFACT_NOT_IN_MANIFEST', `${base} is not an artifact of this manifest`, {
    details: { file: base, artifacts: [...vm.manifest.artifacts.keys()] },
  });
}

/**
 * SYNC_HASH_MAX_BYTES: what a one-shot command passes as {@link VerifyArtifactOptions.syncMaxBytes} (`custody
 * verify`): in a fresh process each asynchronous read is a thread-pool round trip that costs more than hashing a
 * few MiB.
 */
export const SYNC_HASH_MAX_BYTES = 4 * 1024 * 1024;

export interface VerifyArtifactOptions {
  /**
   * syncMaxBytes: an artifact whose signed size is at most this is read whole and hashed synchronously
   * (io/read-sync), blocking the event loop while it is read; larger ones, and every one by default (0), stream
   * through io/hash-file, reads overlapped with hashing and never more than two chunks in memory. Either way the
   * file's size is checked against the signed size on the open descriptor before a byte is read.
   */
  syncMaxBytes?: number;
}

/** verifyArtifactFile checks the file at path against its signed entry. */
export async function verifyArtifactFile(vm: VerifiedManifest, path: string, as?: string, o: VerifyArtifactOptions = {}): Promise<VerifiedArtifact> {
  const { name, artifact } = findArtifact(vm, as ?? path);
  const { supported, unsupported } = artifactHashes(artifact);
  if (supported.size === 0) {
    throw new VerificationError('ERR_MANIFEST_NO_SUPPORTED_HASH', `artifact ${name} offers only unsupported hashes: ${unsupported.join(', ')}`);
  }
  const algs = [...supported.keys()];
  const checkSize = (size: number): void => {
    if (size !== artifact.size_bytes) {
      throw new VerificationError('ERR_ARTIFACT_SIZE_MISMATCH', `${basename(path)}: expected ${artifact.size_bytes} bytes, got ${size}`, {
        details: { artifact: name, expected: artifact.size_bytes, got: size },
      });
    }
  };
  let got: Digests;
  try {
    got = artifact.size_bytes <= (o.syncMaxBytes ?? 0) ? await hashSmallFile(path, checkSize, algs) : await hashLargeFile(path, checkSize, algs);
  } catch (e) {
    // A read that fails after the open (EIO from a disk, a network file system, /proc) is a coded refusal too.
    throw toIoError(e, path, 'read');
  }
  for (const alg of algs) {
    if (!constantTimeEqual(decodeHex(got[alg]), decodeHex(supported.get(alg)!))) {
      throw new VerificationError('ERR_ARTIFACT_HASH_MISMATCH', `${basename(path)}: ${alg} does not match the signed manifest`, {
        details: { artifact: name, algorithm: alg, expected: supported.get(alg), got: got[alg] },
      });
    }
  }
  return { name, filename: artifact.filename, size: artifact.size_bytes, matched: algs };
}

type Digests = Record<HashAlgorithm, string>;

async function hashSmallFile(path: string, checkSize: (size: number) => void, algs: readonly HashAlgorithm[]): Promise<Digests> {
  const file = openRegularFileSync(path);
  try {
    checkSize(file.size);
    const bytes = readOpenedSync(file, path);
    const h = await createMultiHasher(algs);
    h.update(bytes);
    return h.digest();
  } finally {
    closeSync(file.fd);
  }
}

async function hashLargeFile(path: string, checkSize: (size: number) => void, algs: readonly HashAlgorithm[]): Promise<Digests> {
  const { fh, size } = await openRegularFile(path);
  try {
    checkSize(size);
    return await hashOpenFile(fh, size, algs, path);
  } finally {
    await fh.close();
  }
}
