/**
 * archive/tar-scan — scanning a directory for packing and streaming it as a deterministic tar (archive/tar-write).
 *
 * Trust boundary: the directory is the operator's, but what we pack must pass our own extraction rules, so links,
 * devices, fifos and sockets are refused and each path goes through the caller's `checkPath`. Every file is opened
 * with O_NOFOLLOW and must keep the size it was scanned with.
 */
import { promises as fsp, constants as fsc } from 'node:fs';
import { join } from 'node:path';
import { IoError, PolicyError, toIoError } from '../errors.ts';
import { pad, TAR_READ_CHUNK_BYTES } from './tar-format.ts';
import { formatTarHeader, tarTrailer } from './tar-write.ts';

export interface TarDirectoryOptions {
  /** mtime for every entry (seconds; SOURCE_DATE_EPOCH or 0). */
  mtime?: number;
  /** checkPath validates each relative path before it is written (archive/extract's rules). */
  checkPath?: (path: string, type: 'file' | 'directory') => void;
}

/** DirectoryEntry is one regular file or directory found under a root, with its normalised mode. */
export interface DirectoryEntry {
  path: string;
  type: 'file' | 'directory';
  mode: number;
  size: number;
  abs: string;
}

/**
 * scanDirectory lists root recursively, sorted by UTF-8 bytes of the relative path. Symlinks are refused
 * (ERR_PKG_LINK_REFUSED) and devices, fifos and sockets too (ERR_PKG_SPECIAL_FILE): a package we write must pass
 * our own extraction rules. Modes are normalised to 0755/0644.
 */
export async function scanDirectory(root: string, options: TarDirectoryOptions = {}): Promise<DirectoryEntry[]> {
  const out: DirectoryEntry[] = [];
  const walk = async (dir: string, rel: string): Promise<void> => {
    let names: string[];
    try {
      names = await fsp.readdir(dir);
    } catch (e) {
      throw toIoError(e, dir, 'read');
    }
    for (const name of names) {
      const abs = join(dir, name);
      const r = rel === '' ? name : `${rel}/${name}`;
      let st;
      try {
        st = await fsp.lstat(abs);
      } catch (e) {
        throw toIoError(e, abs, 'read');
      }
      if (st.isSymbolicLink()) {
        throw new PolicyError('ERR_PKG_LINK_REFUSED', `refusing to pack symlink ${r}: packages carry no links`);
      }
      if (st.isDirectory()) {
        options.checkPath?.(r, 'directory');
        out.push({ path: r, type: 'directory', mode: 0o755, size: 0, abs });
        await walk(abs, r);
      } else if (st.isFile()) {
        options.checkPath?.(r, 'file');
        out.push({ path: r, type: 'file', mode: (st.mode & 0o111) !== 0 ? 0o755 : 0o644, size: st.size, abs });
      } else {
        throw new PolicyError('ERR_PKG_SPECIAL_FILE', `refusing to pack ${r}: not a regular file or directory`);
      }
    }
  };
  await walk(root, '');
  out.sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)));
  return out;
}

/**
 * tarDirectory streams a deterministic archive of the entries found by {@link scanDirectory}. A file whose size
 * changes while it is read gives ERR_IO_READ_FAILED (the archive would not match what was scanned).
 */
export async function* tarDirectory(entries: readonly DirectoryEntry[], options: TarDirectoryOptions = {}): AsyncGenerator<Uint8Array> {
  const mtime = options.mtime ?? 0;
  let written = 0;
  for (const e of entries) {
    const h = formatTarHeader({ path: e.path, type: e.type, mode: e.mode, size: e.size, mtime });
    written += h.length;
    yield h;
    if (e.type !== 'file' || e.size === 0) continue;
    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(e.abs, fsc.O_RDONLY | fsc.O_NOFOLLOW);
    } catch (err) {
      throw toIoError(err, e.abs, 'read');
    }
    try {
      let left = e.size;
      let pos = 0;
      while (left > 0) {
        const buf = Buffer.allocUnsafe(Math.min(TAR_READ_CHUNK_BYTES, left));
        const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
        if (bytesRead === 0) throw new IoError('ERR_IO_READ_FAILED', `${e.abs} shrank while it was packed`);
        pos += bytesRead;
        left -= bytesRead;
        yield buf.subarray(0, bytesRead);
      }
      const extra = await fh.read(Buffer.alloc(1), 0, 1, pos);
      if (extra.bytesRead !== 0) throw new IoError('ERR_IO_READ_FAILED', `${e.abs} grew while it was packed`);
    } finally {
      await fh.close();
    }
    written += e.size;
    const p = pad(e.size);
    if (p > 0) {
      written += p;
      yield new Uint8Array(p);
    }
  }
  yield tarTrailer(written);
}
