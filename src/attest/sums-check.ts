/**
 * attest/sums-check — hashing the files a SHA256SUMS file lists (`sha256sum -c`) and the files it is made from
 * (`sha256sum`), with the streaming hasher of io/hash-file.
 *
 * Names are opened as `sha256sum` opens them: relative to the working directory (here `cwd`), absolute names as
 * they are, symlinks followed, the raw bytes of the name passed to the OS (no normalisation, no UTF-8 round trip).
 * Trust boundary: the names come from the checksum file; custody reads whatever the OS opens under that name, as
 * coreutils does, and nothing else. One difference: a name that opens to something other than a regular file or a
 * directory (a FIFO, a device) is reported unreadable instead of read, so `/dev/zero` cannot stall a check forever.
 */
import { constants, promises as fsp } from 'node:fs';
import { IoError, isTrustError, toIoError } from '../errors.ts';
import { hashOpenFile } from '../io/hash-file.ts';
import { toNameBytes, type ParsedSums, type SumsEntry, type SumsLine, type SumsMode } from './sums.ts';

/** ERRNO_TEXT is strerror(3) of glibc for the errors an open or read can give, as coreutils prints them. */
const ERRNO_TEXT: Readonly<Record<string, string>> = {
  ENOENT: 'No such file or directory',
  EACCES: 'Permission denied',
  EPERM: 'Operation not permitted',
  EISDIR: 'Is a directory',
  ENOTDIR: 'Not a directory',
  ELOOP: 'Too many levels of symbolic links',
  ENAMETOOLONG: 'File name too long',
  EIO: 'Input/output error',
  EMFILE: 'Too many open files',
  ENFILE: 'Too many open files in system',
  ENXIO: 'No such device or address',
  EOVERFLOW: 'Value too large for defined data type',
};

/** FileDigest is the outcome of hashing one listed file. */
export type FileDigest =
  | { ok: true; sha256: string }
  | { ok: false; errno: string; reason: string; missing: boolean };

/** resolveName turns a listed name into the path the OS opens: relative to cwd, raw bytes preserved. */
export function resolveName(name: Uint8Array, cwd: string): Buffer {
  const n = Buffer.from(name);
  if (n[0] === 0x2f) return n;
  return Buffer.concat([Buffer.from(cwd.endsWith('/') ? cwd : cwd + '/', 'utf8'), n]);
}

/** digestListedFile hashes the file a name opens; failures are returned (with strerror text), never thrown. */
export async function digestListedFile(name: Uint8Array, cwd: string): Promise<FileDigest> {
  const path = resolveName(name, cwd);
  const shown = Buffer.from(name).toString('utf8');
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    const errno = (e as NodeJS.ErrnoException).code ?? 'EIO';
    return { ok: false, errno, reason: ERRNO_TEXT[errno] ?? errno, missing: errno === 'ENOENT' };
  }
  try {
    const st = await fh.stat();
    if (st.isDirectory()) return { ok: false, errno: 'EISDIR', reason: ERRNO_TEXT.EISDIR!, missing: false };
    if (!st.isFile()) return { ok: false, errno: 'EINVAL', reason: 'Not a regular file', missing: false };
    const d = await hashOpenFile(fh, st.size, ['sha256'], shown);
    return { ok: true, sha256: d.sha256 };
  } catch (e) {
    if (isTrustError(e)) return { ok: false, errno: 'EIO', reason: e.message, missing: false };
    const errno = (e as NodeJS.ErrnoException).code ?? 'EIO';
    return { ok: false, errno, reason: ERRNO_TEXT[errno] ?? errno, missing: false };
  } finally {
    await fh.close().catch(() => undefined);
  }
}

/** SumsVerdict is the result for one line: `ok`, `failed` (other bytes), `unreadable`, or `missing` (ignored). */
export interface SumsVerdict {
  entry: SumsLine;
  status: 'ok' | 'failed' | 'unreadable' | 'missing';
  /** reason is strerror's text for `unreadable` (and `missing`). */
  reason?: string;
}

/** SumsReport counts what `sha256sum -c` counts for its summary lines and exit status. */
export interface SumsReport {
  verdicts: SumsVerdict[];
  /** malformed is the number of improperly formatted lines. */
  malformed: number;
  ok: number;
  mismatched: number;
  unreadable: number;
  /** missing counts files skipped by ignoreMissing. */
  missing: number;
}

export interface CheckSumsOptions {
  /** cwd is the directory relative names are opened from. */
  cwd: string;
  /** ignoreMissing skips files that do not exist (ENOENT on open), as `--ignore-missing`. */
  ignoreMissing?: boolean;
  /** onVerdict is called for each line in file order, as soon as its file is hashed (for streaming output). */
  onVerdict?: (v: SumsVerdict) => void;
}

/**
 * checkSums hashes every listed file in order and compares it with its line (digest.c `digest_check`). It never
 * throws for a file; the report says what failed. Use {@link sumsCheckPassed} for the verdict.
 */
export async function checkSums(parsed: ParsedSums, options: CheckSumsOptions): Promise<SumsReport> {
  const report: SumsReport = { verdicts: [], malformed: parsed.malformed.length, ok: 0, mismatched: 0, unreadable: 0, missing: 0 };
  for (const entry of parsed.entries) {
    const d = await digestListedFile(entry.name, options.cwd);
    let v: SumsVerdict;
    if (!d.ok) {
      if (d.missing && options.ignoreMissing) {
        report.missing++;
        v = { entry, status: 'missing', reason: d.reason };
      } else {
        report.unreadable++;
        v = { entry, status: 'unreadable', reason: d.reason };
      }
    } else if (d.sha256 === entry.sha256) {
      report.ok++;
      v = { entry, status: 'ok' };
    } else {
      report.mismatched++;
      v = { entry, status: 'failed' };
    }
    report.verdicts.push(v);
    options.onVerdict?.(v);
  }
  return report;
}

/**
 * sumsCheckPassed is coreutils' exit status as a boolean: some line was properly formatted, at least one file
 * matched, none mismatched or was unreadable, and (strict) no line was improperly formatted.
 */
export function sumsCheckPassed(report: SumsReport, strict = false): boolean {
  return report.verdicts.length > 0 && report.ok > 0 && report.mismatched === 0 && report.unreadable === 0 && (!strict || report.malformed === 0);
}

/**
 * digestForSums hashes the files to list (`sha256sum FILE…`): names as given (relative to cwd), in order. A file
 * that cannot be read is a coded IoError (nothing is listed for a failed run).
 */
export async function digestForSums(names: readonly (string | Uint8Array)[], cwd: string, mode: SumsMode): Promise<SumsEntry[]> {
  const out: SumsEntry[] = [];
  for (const n of names) {
    const name = toNameBytes(n);
    const shown = Buffer.from(name).toString('utf8');
    const d = await digestListedFile(name, cwd);
    if (!d.ok) {
      if (d.missing) throw new IoError('ERR_IO_NOT_FOUND', `no such file: ${shown}`);
      if (d.errno === 'EISDIR' || d.errno === 'EINVAL') throw new IoError('ERR_IO_NOT_REGULAR_FILE', `${shown}: ${d.reason}`);
      throw toIoError(Object.assign(new Error(d.reason), { code: d.errno }), shown, 'read');
    }
    out.push({ name, sha256: d.sha256, mode });
  }
  return out;
}
