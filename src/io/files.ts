/**
 * io/files — the file-system duties every command shares.
 *
 * - `writeFileAtomic`: write to a temporary file in the target directory, fsync it, rename it over the target and
 *   fsync the directory. A crash or error at any point leaves either the old file or the new one, never a mix, and the
 *   temporary file is removed on failure.
 * - `writeFilesAtomic`: the same for outputs that belong together (an SBOM and its attestation): every temporary file
 *   is written and fsynced first, then each is renamed into place; on failure only this call's temporary files are
 *   removed, so an earlier file at a target path is never deleted.
 * - `readFileBounded`: refuse symlinks (unless allowed), non-regular files and files over a cap, checked on the open
 *   descriptor so the file cannot be swapped between check and read.
 */
import { constants, promises as fsp } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { IoError, LimitError, isTrustError, toIoError } from '../errors.ts';

export interface WriteAtomicOptions {
  /** mode of the new file (default 0o644; private keys use 0o600). */
  mode?: number;
  /** overwrite an existing file (default true). When false an existing file gives ERR_IO_EXISTS. */
  overwrite?: boolean;
  /** dirMode creates missing parent directories with this mode (default: parents must exist). */
  dirMode?: number;
}

/** tempCounter makes temporary names unique within the process (pid and time make them unique across processes). */
let tempCounter = 0;

/**
 * tempPath names a fresh temporary file in dir: `.<label>.<pid>.<ms>.<n>.tmp` (hidden, and ending in `.tmp` so an
 * operator can tell leftovers of an interrupted write). Used by every atomic writer, so one counter serves all.
 * The name is only unique: create the file with O_EXCL.
 */
export function tempPath(dir: string, label: string): string {
  return join(dir, `.${label}.${process.pid}.${Date.now()}.${tempCounter++}.tmp`);
}

/** writeFileAtomic replaces path with data atomically (temp + fsync + rename + directory fsync). */
export async function writeFileAtomic(path: string, data: Uint8Array | string, options: WriteAtomicOptions = {}): Promise<void> {
  const dir = dirname(path);
  try {
    if (options.dirMode !== undefined) {
      await fsp.mkdir(dir, { recursive: true, mode: options.dirMode }).catch((e: unknown) => {
        // mkdir -p answers EEXIST (or ENOTDIR) when a file stands where a directory of the path should be: that is
        // a path that cannot be written, not an output that exists.
        const errno = (e as NodeJS.ErrnoException | null)?.code;
        if (errno === 'EEXIST' || errno === 'ENOTDIR') {
          throw new IoError('ERR_IO_WRITE_FAILED', `cannot write ${path}: a part of ${dir} is not a directory`, { cause: e, hint: 'choose an output path whose directories are directories' });
        }
        throw e;
      });
    }
    if (options.overwrite === false) {
      if (await pathExists(path)) throw new IoError('ERR_IO_EXISTS', `refusing to overwrite ${path}`);
    }
  } catch (e) {
    throw toIoError(e, path, 'write');
  }
  const tmp = tempPath(dir, basename(path));
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, options.mode ?? 0o644);
    await fh.writeFile(data);
    await fh.sync();
    await fh.close();
    fh = undefined;
    if (options.overwrite === false) {
      // link() fails if the target appeared meanwhile, so a concurrent writer is never clobbered.
      await fsp.link(tmp, path);
      await fsp.unlink(tmp);
    } else {
      await fsp.rename(tmp, path);
    }
    await syncDir(dir);
  } catch (e) {
    await fh?.close().catch(() => undefined);
    await fsp.unlink(tmp).catch(() => undefined);
    throw toIoError(e, path, 'write');
  }
}

/** AtomicFile is one output of {@link writeFilesAtomic}. */
export interface AtomicFile {
  path: string;
  data: Uint8Array | string;
  /** mode of the new file (default 0o644). */
  mode?: number;
  /** overwrite an existing file (default true); when false an existing file gives ERR_IO_EXISTS. */
  overwrite?: boolean;
}

/**
 * writeFilesAtomic writes several files that go together: all are staged as fsynced temporary files before any is
 * renamed into place, so a failure to write any of them (a full disk, a directory where a file should go) changes
 * none of the targets. Only the temporary files this call created are removed on failure.
 */
export async function writeFilesAtomic(files: readonly AtomicFile[]): Promise<void> {
  const staged: Array<{ file: AtomicFile; tmp: string }> = [];
  let current = files[0]?.path ?? '';
  try {
    for (const file of files) {
      current = file.path;
      if (file.overwrite === false && (await pathExists(file.path))) throw new IoError('ERR_IO_EXISTS', `refusing to overwrite ${file.path}`);
      // rename() over a directory fails only once an earlier file is in place: refuse it while nothing has moved.
      const st = await fsp.lstat(file.path).catch(() => undefined);
      if (st?.isDirectory()) throw new IoError('ERR_IO_WRITE_FAILED', `cannot write ${file.path}: it is a directory`);
      const tmp = tempPath(dirname(file.path), basename(file.path));
      const fh = await fsp.open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, file.mode ?? 0o644);
      staged.push({ file, tmp });
      try {
        await fh.writeFile(file.data);
        await fh.sync();
      } finally {
        await fh.close();
      }
    }
    while (staged.length > 0) {
      const { file, tmp } = staged[0]!;
      current = file.path;
      if (file.overwrite === false) {
        // link() fails if the target appeared meanwhile, so a concurrent writer is never clobbered.
        await fsp.link(tmp, file.path);
        await fsp.unlink(tmp);
      } else {
        await fsp.rename(tmp, file.path);
      }
      staged.shift();
      await syncDir(dirname(file.path));
    }
  } catch (e) {
    for (const { tmp } of staged) await fsp.unlink(tmp).catch(() => undefined);
    throw toIoError(e, current, 'write');
  }
}

/**
 * writeFully writes all of data at the file's current position: `FileHandle.write` may write less than asked
 * (a full disk, a quota) and Node does not loop, so a short write must never pass for a complete one.
 */
export async function writeFully(fh: fsp.FileHandle, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.length) {
    const { bytesWritten } = await fh.write(data, off, data.length - off);
    if (bytesWritten <= 0) throw new IoError('ERR_IO_WRITE_FAILED', 'the file system accepted no more bytes (disk full?)');
    off += bytesWritten;
  }
}

/**
 * writevFully writes the buffers in order at the file's current position with as few syscalls as the kernel allows
 * (writev), continuing after a short write; a write that accepts nothing is ERR_IO_WRITE_FAILED.
 */
export async function writevFully(fh: fsp.FileHandle, chunks: readonly Uint8Array[]): Promise<void> {
  let rest = chunks.filter((c) => c.length > 0);
  while (rest.length > 0) {
    // IOV_MAX is 1024 on Linux; larger batches are split.
    const part = rest.slice(0, 1024);
    let { bytesWritten } = await fh.writev(part);
    if (bytesWritten <= 0) throw new IoError('ERR_IO_WRITE_FAILED', 'the file system accepted no more bytes (disk full?)');
    let i = 0;
    while (i < part.length && bytesWritten >= part[i]!.length) bytesWritten -= part[i++]!.length;
    const next = rest.slice(i);
    if (bytesWritten > 0) next[0] = next[0]!.subarray(bytesWritten);
    rest = next;
  }
}

/** pathExists tells whether anything (file, directory, symlink) is at path, without following a final symlink. */
export async function pathExists(path: string): Promise<boolean> {
  return fsp.lstat(path).then(
    () => true,
    () => false,
  );
}

/** readFileIfExists is readFileBounded for an optional file: undefined when nothing is there, errors otherwise. */
export async function readFileIfExists(path: string, options: ReadBoundedOptions): Promise<Buffer | undefined> {
  try {
    return await readFileBounded(path, options);
  } catch (e) {
    if (isTrustError(e) && e.code === 'ERR_IO_NOT_FOUND') return undefined;
    throw e;
  }
}

/**
 * syncPath fsyncs what is at path (a regular file or a directory; a final symlink is not followed), so its data —
 * or, for a directory, its entries — reach the disk before a later rename publishes them.
 */
export async function syncPath(path: string): Promise<void> {
  const fh = await fsp.open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** syncDir fsyncs a directory so a rename inside it is durable. */
export async function syncDir(dir: string): Promise<void> {
  const d = await fsp.open(dir, constants.O_RDONLY);
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

export interface ReadBoundedOptions {
  /** maxBytes refuses larger files with ERR_LIMIT_SIZE. */
  maxBytes: number;
  /** allowSymlink follows a symlinked final component (default false). */
  allowSymlink?: boolean;
  /** what names the file in messages. */
  what?: string;
}

/** openRegularFile opens path read-only, refusing symlinks (O_NOFOLLOW) and non-regular files. */
export async function openRegularFile(path: string, allowSymlink = false): Promise<{ fh: fsp.FileHandle; size: number }> {
  let fh: fsp.FileHandle;
  try {
    // O_NONBLOCK: opening a FIFO planted where a file was expected must not block; regular files ignore it.
    fh = await fsp.open(path, constants.O_RDONLY | constants.O_NONBLOCK | (allowSymlink ? 0 : constants.O_NOFOLLOW));
  } catch (e) {
    if ((e as { code?: string }).code === 'ELOOP') {
      throw new IoError('ERR_IO_NOT_REGULAR_FILE', `${path} is a symlink; pass the file itself`, { cause: e });
    }
    throw toIoError(e, path, 'read');
  }
  const st = await fh.stat();
  if (!st.isFile()) {
    await fh.close();
    throw new IoError('ERR_IO_NOT_REGULAR_FILE', `${path} is not a regular file`);
  }
  return { fh, size: st.size };
}

/** readFileBounded reads a whole regular file no larger than maxBytes. */
export async function readFileBounded(path: string, options: ReadBoundedOptions): Promise<Buffer> {
  const { fh, size } = await openRegularFile(path, options.allowSymlink ?? false);
  try {
    if (size > options.maxBytes) {
      throw new LimitError('ERR_LIMIT_SIZE', `${options.what ?? path} is ${size} bytes, over the cap of ${options.maxBytes}`, {
        details: { size, cap: options.maxBytes },
      });
    }
    const buf = Buffer.alloc(size);
    let off = 0;
    while (off < size) {
      const { bytesRead } = await fh.read(buf, off, size - off, off);
      if (bytesRead === 0) break;
      off += bytesRead;
    }
    // A file that grew while being read is refused: the bytes would not be the ones we measured.
    const extra = await fh.read(Buffer.alloc(1), 0, 1, off);
    if (off !== size || extra.bytesRead !== 0) {
      throw new IoError('ERR_IO_READ_FAILED', `${path} changed while it was read`);
    }
    return buf;
  } catch (e) {
    throw toIoError(e, path, 'read');
  } finally {
    await fh.close();
  }
}
