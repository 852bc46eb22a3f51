/**
 * io/hash-file — streaming digests of a file in one pass (never the whole file in memory).
 */
import type { promises as fsp } from 'node:fs';
import { createMultiHasher, type HashAlgorithm } from '../crypto/index.ts';
import { IoError } from '../errors.ts';

/** HASH_CHUNK_BYTES: 1 MiB reads keep syscalls few and memory flat. */
export const HASH_CHUNK_BYTES = 1024 * 1024;

/**
 * hashOpenFile reads exactly `size` bytes from the start of an open file, feeding every algorithm, and returns hex
 * digests. A file that is shorter or longer than `size` (changed while read) gives ERR_IO_READ_FAILED.
 */
export async function hashOpenFile(
  fh: fsp.FileHandle,
  size: number,
  algorithms: readonly HashAlgorithm[],
  path: string,
): Promise<Record<HashAlgorithm, string>> {
  const h = await createMultiHasher(algorithms);
  const buf = Buffer.allocUnsafe(Math.min(HASH_CHUNK_BYTES, Math.max(size, 1)));
  let pos = 0;
  while (pos < size) {
    const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, size - pos), pos);
    if (bytesRead === 0) throw new IoError('ERR_IO_READ_FAILED', `${path} shrank while it was read`);
    h.update(buf.subarray(0, bytesRead));
    pos += bytesRead;
  }
  const extra = await fh.read(Buffer.alloc(1), 0, 1, pos);
  if (extra.bytesRead !== 0) throw new IoError('ERR_IO_READ_FAILED', `${path} grew while it was read`);
  return h.digest();
}
