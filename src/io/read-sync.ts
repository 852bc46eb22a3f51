/**
 * io/read-sync — the bounded reads of io/files, synchronous, for the one-shot verifying commands (issue 9, CLI cold
 * start).
 *
 * A command that verifies a few small files has nothing to overlap its reads with, and in a fresh process every
 * asynchronous file operation is a round trip through libuv's thread pool (started on first use) and the promise
 * machinery, still in the interpreter: `custody verify` spent about 6 ms of its ~50 ms start in them (sniffing the
 * first file, reading the root and the manifest, hashing a 64 KiB artifact), and the first touch of `fs.promises`
 * loads eight more of Node's internal modules. These twins make the same checks with the same codes, on the open
 * descriptor (so the file cannot be swapped between check and read): symlinks refused unless allowed
 * (ERR_IO_NOT_REGULAR_FILE), non-regular files refused, the size capped before reading (ERR_LIMIT_SIZE), a file that
 * changes while read refused (ERR_IO_READ_FAILED). Large files and the daemon keep io/files: reads there overlap
 * with hashing and never block an event loop that serves others.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { IoError, LimitError, toIoError } from '../errors.ts';
import type { ReadBoundedOptions } from './files.ts';

/** OpenedFile is a regular file open for reading and its size when opened. */
export interface OpenedFile {
  fd: number;
  size: number;
}

/** openRegularFileSync opens path read-only, refusing symlinks (O_NOFOLLOW, unless allowed) and non-regular files. */
export function openRegularFileSync(path: string, allowSymlink = false): OpenedFile {
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO planted where a file was expected must not block; regular files ignore it.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | (allowSymlink ? 0 : constants.O_NOFOLLOW));
  } catch (e) {
    if ((e as { code?: string }).code === 'ELOOP') {
      throw new IoError('ERR_IO_NOT_REGULAR_FILE', `${path} is a symlink; pass the file itself`, { cause: e });
    }
    throw toIoError(e, path, 'read');
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new IoError('ERR_IO_NOT_REGULAR_FILE', `${path} is not a regular file`);
    return { fd, size: st.size };
  } catch (e) {
    closeSync(fd);
    throw toIoError(e, path, 'read');
  }
}

/**
 * readOpenedSync reads exactly `size` bytes from the start of an open file and refuses (ERR_IO_READ_FAILED) a file
 * that is now shorter or longer: the bytes would not be the ones measured.
 */
export function readOpenedSync(file: OpenedFile, path: string): Buffer {
  const buf = Buffer.alloc(file.size);
  let off = 0;
  while (off < file.size) {
    const n = readSync(file.fd, buf, off, file.size - off, off);
    if (n === 0) break;
    off += n;
  }
  if (off !== file.size || readSync(file.fd, Buffer.alloc(1), 0, 1, off) !== 0) {
    throw new IoError('ERR_IO_READ_FAILED', `${path} changed while it was read`);
  }
  return buf;
}

/** readFileBoundedSync reads a whole regular file no larger than maxBytes (io/files readFileBounded, synchronous). */
export function readFileBoundedSync(path: string, options: ReadBoundedOptions): Buffer {
  const file = openRegularFileSync(path, options.allowSymlink ?? false);
  try {
    if (file.size > options.maxBytes) {
      throw new LimitError('ERR_LIMIT_SIZE', `${options.what ?? path} is ${file.size} bytes, over the cap of ${options.maxBytes}`, {
        details: { size: file.size, cap: options.maxBytes },
      });
    }
    return readOpenedSync(file, path);
  } catch (e) {
    throw toIoError(e, path, 'read');
  } finally {
    closeSync(file.fd);
  }
}

/** readTailSync reads the last `n` bytes of an open file (fewer when it is shorter); it checks nothing. */
export function readTailSync(file: OpenedFile, n: number): Buffer {
  const len = Math.min(n, file.size);
  const buf = Buffer.alloc(len);
  const got = readSync(file.fd, buf, 0, len, file.size - len);
  return buf.subarray(0, got);
}
