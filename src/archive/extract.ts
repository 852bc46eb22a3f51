/**
 * archive/extract — safe extraction of tar archives and single files into a new directory, with per-entry verdicts
 * in the spirit of golang.org/x/mod/zip `CheckedFiles`. Used for PSPF/2025 (FlavorPack v0.3.0) slots by
 * pkg/extract, whose reference launchers extract with no path checks (Go: tar-slip through `hdr.Name` and
 * arbitrary symlinks; Rust: `entry.unpack(dest.join(path))` and setuid bits re-applied).
 *
 * Trust boundary: entry names, types, modes, sizes and link targets are attacker-controlled, even in a package
 * whose signature verified (anyone can sign with their own key). Every entry passes these rules or the whole
 * extraction is refused and NOTHING is left at the destination:
 *
 * 1. Paths are relative: no leading `/`, no drive letter (`C:`), no `..` component (ERR_PKG_PATH_ESCAPE).
 * 2. Paths are plain: no empty or `.` component (a leading `./` is stripped), no backslash, NUL or control
 *    character, at most `maxPathBytes` bytes, `maxComponentBytes` per component and `maxDepth` components
 *    (ERR_PKG_PATH_INVALID).
 * 3. No two entries share a name, exactly or after Unicode case folding (NFC, then upper- and lower-casing), and no
 *    entry is both a file and a directory (ERR_PKG_PATH_COLLISION). A repeated directory entry is allowed.
 * 4. Symlinks and hardlinks are refused by default (ERR_PKG_LINK_REFUSED). With `allowLinks`, a symlink target
 *    must be relative with no `..` component at all (a lexical check is unsound once links chain: `d -> .` then
 *    `l -> d/../x` escapes), a hardlink must name a regular file extracted earlier from the same archive, and no
 *    entry is ever written through a symlink (ERR_PKG_PATH_ESCAPE).
 * 5. No character or block devices, fifos or other special entries (ERR_PKG_SPECIAL_FILE).
 * 6. No setuid, setgid or sticky bit (ERR_PKG_MODE_REFUSED). Files are written with their owner/group/other
 *    execute bits and at most 0644 otherwise (group/other write dropped), directories 0755; never chowned.
 * 7. Caps: `maxEntries` entries (ERR_PKG_ENTRY_LIMIT), `maxTotalBytes` declared and decoded bytes
 *    (ERR_PKG_SIZE_LIMIT), and a decoded/stored ratio of `maxRatio` once past `ratioFloorBytes`
 *    (ERR_PKG_RATIO_LIMIT). Limits abort at once; rule violations are recorded and the remaining headers are
 *    still checked (nothing more is written) so the caller gets every verdict.
 * 8. Everything is written into a fresh directory (mode 0700, `O_EXCL|O_NOFOLLOW` for every file) created next to
 *    the destination, which is renamed into place only when every entry passed; on any failure it is removed.
 *    The destination must not exist, or be an empty directory.
 *
 * Durability (crash points): before the commit rename, every extracted regular file and every directory of the
 * tree (the staging root included) is fsynced, so a crash after the rename can never expose a directory whose files
 * are empty or missing; after the rename the destination's parent is fsynced. A crash before the rename leaves only
 * the staging directory (`.NAME.custody-extract-*`), never a partial destination. Symlinks are made durable by
 * their directory's fsync; a hardlink shares its file's inode.
 */
import { closeSync, constants as fsc, openSync, promises as fsp, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { IoError, LimitError, PolicyError, toIoError, type ErrorCode } from '../errors.ts';
import { syncDir, syncPath } from '../io/files.ts';
import { readTar, type ByteSource, type ReadTarOptions, type TarEntryType } from './tar.ts';

/** ExtractLimits are the caps of rule 7 (and the path sizes of rule 2). */
export interface ExtractLimits {
  /** maxEntries: entries per extraction (default 100,000). */
  maxEntries: number;
  /** maxTotalBytes: declared file bytes, and decoded bytes, per extraction (default 8 GiB). */
  maxTotalBytes: number;
  /** maxRatio: decoded bytes per stored byte of one stream (default 1,000; gzip tops out near 1,032). */
  maxRatio: number;
  /** ratioFloorBytes: the ratio is only enforced past this many decoded bytes (default 1 MiB). */
  ratioFloorBytes: number;
  /** maxPathBytes: bytes of one path (default 4,096, PATH_MAX). */
  maxPathBytes: number;
  /** maxComponentBytes: bytes of one path component (default 255, NAME_MAX). */
  maxComponentBytes: number;
  /** maxDepth: components of one path (default 128). */
  maxDepth: number;
}

/** DEFAULT_EXTRACT_LIMITS are the defaults of {@link ExtractLimits}. */
export const DEFAULT_EXTRACT_LIMITS: Readonly<ExtractLimits> = Object.freeze({
  maxEntries: 100_000,
  maxTotalBytes: 8 * 1024 * 1024 * 1024,
  maxRatio: 1000,
  ratioFloorBytes: 1024 * 1024,
  maxPathBytes: 4096,
  maxComponentBytes: 255,
  maxDepth: 128,
});

export interface SafeExtractOptions {
  /** allowLinks accepts symlinks and hardlinks that stay inside (rule 4). Default false. */
  allowLinks?: boolean;
  limits?: Partial<ExtractLimits>;
  /** tar passes options to the tar reader. */
  tar?: ReadTarOptions;
  /**
   * fsync makes one staged file or directory durable before the commit rename (default io/files `syncPath`). An
   * injection point for tests and for callers with their own durability rules; it must not return before the
   * data is on stable storage.
   */
  fsync?: (path: string, kind: 'file' | 'directory') => Promise<void>;
}

/** FSYNC_CONCURRENCY: staged files fsynced at once before the commit (the thread pool has 4 threads by default). */
const FSYNC_CONCURRENCY = 8;

/** EntryVerdict is what happened to one entry. */
export interface EntryVerdict {
  /** slot is the PSPF slot the entry came from, when extracting a package. */
  slot: number | undefined;
  /** path as named in the archive (or the normalised destination path for single files). */
  path: string;
  type: TarEntryType;
  size: number;
  mode: number;
  /** verdict: ok (written), omitted (harmless, not written: `./`, a repeated directory) or refused. */
  verdict: 'ok' | 'omitted' | 'refused';
  code?: ErrorCode;
  reason?: string;
}

/** ExtractResult summarises a committed extraction. */
export interface ExtractResult {
  root: string;
  entries: EntryVerdict[];
  files: number;
  directories: number;
  links: number;
  bytes: number;
}

const MODE_SPECIAL_BITS = 0o7000;
/** SMALL_FILE_BYTES: files up to 256 KiB are written with one synchronous open/write/close. */
const SMALL_FILE_BYTES = 256 * 1024;

/** foldName is the case-folding key of rule 3. */
export function foldName(s: string): string {
  return s.normalize('NFC').toUpperCase().toLowerCase();
}

function refuse(code: 'ERR_PKG_PATH_ESCAPE' | 'ERR_PKG_PATH_INVALID', message: string): never {
  throw new PolicyError(code, message);
}

/**
 * checkArchivePath applies rules 1 and 2 and returns the normalised relative path ('' for the root itself).
 * Throws ERR_PKG_PATH_ESCAPE or ERR_PKG_PATH_INVALID.
 */
export function checkArchivePath(raw: string, limits: Pick<ExtractLimits, 'maxPathBytes' | 'maxComponentBytes' | 'maxDepth'> = DEFAULT_EXTRACT_LIMITS): string {
  const show = JSON.stringify(raw.length > 200 ? raw.slice(0, 200) + '…' : raw);
  if (raw === '') refuse('ERR_PKG_PATH_INVALID', 'empty path');
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f\\]/.test(raw)) refuse('ERR_PKG_PATH_INVALID', `path ${show} contains a control character or backslash`);
  if (raw.startsWith('/')) refuse('ERR_PKG_PATH_ESCAPE', `absolute path ${show}`);
  if (/^[A-Za-z]:/.test(raw)) refuse('ERR_PKG_PATH_ESCAPE', `drive-letter path ${show}`);
  if (Buffer.byteLength(raw) > limits.maxPathBytes) {
    refuse('ERR_PKG_PATH_INVALID', `path of ${Buffer.byteLength(raw)} bytes is over the cap of ${limits.maxPathBytes}`);
  }
  let p = raw;
  while (p.startsWith('./')) p = p.slice(2);
  if (p.endsWith('/')) p = p.slice(0, -1);
  if (p === '' || p === '.') return '';
  const parts = p.split('/');
  if (parts.length > limits.maxDepth) refuse('ERR_PKG_PATH_INVALID', `path ${show} is deeper than ${limits.maxDepth} components`);
  for (const c of parts) {
    if (c === '..') refuse('ERR_PKG_PATH_ESCAPE', `path ${show} has a ".." component`);
    if (c === '' || c === '.') refuse('ERR_PKG_PATH_INVALID', `path ${show} has an empty or "." component`);
    if (Buffer.byteLength(c) > limits.maxComponentBytes) {
      refuse('ERR_PKG_PATH_INVALID', `a component of ${show} is over ${limits.maxComponentBytes} bytes`);
    }
  }
  return parts.join('/');
}

/**
 * DecodeGuard enforces rule 7 on a decoded byte stream: it counts decoded bytes against the stored size of the
 * stream (ratio) and against a budget shared by the whole extraction (total).
 */
export class DecodeGuard {
  private decoded = 0;
  private readonly budget: ByteBudget;
  private readonly storedBytes: number;
  private readonly what: string;
  constructor(budget: ByteBudget, storedBytes: number, what: string) {
    this.budget = budget;
    this.storedBytes = storedBytes;
    this.what = what;
  }

  /** add counts n more decoded bytes; throws ERR_PKG_RATIO_LIMIT or ERR_PKG_SIZE_LIMIT. */
  add(n: number): void {
    this.decoded += n;
    const l = this.budget.limits;
    if (this.decoded > l.ratioFloorBytes && this.decoded > this.storedBytes * l.maxRatio) {
      throw new LimitError('ERR_PKG_RATIO_LIMIT', `${this.what} decodes to more than ${l.maxRatio}× its ${this.storedBytes} stored bytes`, {
        details: { stored: this.storedBytes, decoded: this.decoded, maxRatio: l.maxRatio },
      });
    }
    this.budget.addDecoded(n, this.what);
  }

  /** check throws, like add, if n more decoded bytes would break a limit — without counting them. */
  check(n: number): void {
    const l = this.budget.limits;
    const after = this.decoded + n;
    if (after > l.ratioFloorBytes && after > this.storedBytes * l.maxRatio) {
      throw new LimitError('ERR_PKG_RATIO_LIMIT', `${this.what} would decode to more than ${l.maxRatio}× its ${this.storedBytes} stored bytes`, {
        details: { stored: this.storedBytes, decoded: after, maxRatio: l.maxRatio },
      });
    }
    this.budget.checkDecoded(n, this.what);
  }

  /** allowance is how many more decoded bytes this stream may produce before a limit trips. */
  allowance(): number {
    const l = this.budget.limits;
    const byRatio = Math.max(l.ratioFloorBytes, this.storedBytes * l.maxRatio) - this.decoded;
    return Math.max(0, Math.min(byRatio, this.budget.remaining()));
  }

  get total(): number {
    return this.decoded;
  }
}

/** ByteBudget is the total-size account shared by every stream of one extraction. */
export class ByteBudget {
  private decoded = 0;
  readonly limits: ExtractLimits;
  constructor(limits: Partial<ExtractLimits> = {}) {
    this.limits = { ...DEFAULT_EXTRACT_LIMITS, ...limits };
  }
  addDecoded(n: number, what: string): void {
    this.decoded += n;
    if (this.decoded > this.limits.maxTotalBytes) {
      throw new LimitError('ERR_PKG_SIZE_LIMIT', `${what}: decoded data exceeds the cap of ${this.limits.maxTotalBytes} bytes`, {
        details: { cap: this.limits.maxTotalBytes },
      });
    }
  }
  remaining(): number {
    return this.limits.maxTotalBytes - this.decoded;
  }
  checkDecoded(n: number, what: string): void {
    if (this.decoded + n > this.limits.maxTotalBytes) {
      throw new LimitError('ERR_PKG_SIZE_LIMIT', `${what}: decoded data would exceed the cap of ${this.limits.maxTotalBytes} bytes`, {
        details: { cap: this.limits.maxTotalBytes },
      });
    }
  }
  guard(storedBytes: number, what: string): DecodeGuard {
    return new DecodeGuard(this, storedBytes, what);
  }
}

type NodeKind = 'file' | 'directory' | 'symlink';

/**
 * SafeExtractor stages entries from one or more sources (tar streams, single files) into a fresh directory next
 * to `dest`, applying the rules of the module doc, then `commit()` renames it into place or `abort()` removes it.
 */
export class SafeExtractor {
  readonly dest: string;
  readonly staging: string;
  readonly budget: ByteBudget;
  readonly entries: EntryVerdict[] = [];
  private readonly allowLinks: boolean;
  private readonly tarOptions: ReadTarOptions;
  private readonly nodes = new Map<string, NodeKind>();
  private readonly folded = new Map<string, string>();
  private readonly madeDirs = new Set<string>(['']);
  private failure: PolicyError | undefined;
  private declaredBytes = 0;
  private count = 0;
  private stats = { files: 0, links: 0, bytes: 0 };
  private closed = false;
  /** writtenFiles are the staged regular files (relative paths) still to be fsynced before the commit. */
  private readonly writtenFiles: string[] = [];
  private readonly fsync: (path: string, kind: 'file' | 'directory') => Promise<void>;

  private constructor(dest: string, staging: string, options: SafeExtractOptions) {
    this.dest = dest;
    this.staging = staging;
    this.budget = new ByteBudget(options.limits);
    this.allowLinks = options.allowLinks ?? false;
    this.tarOptions = options.tar ?? {};
    this.fsync = options.fsync ?? ((path) => syncPath(path));
  }

  /** create makes the staging directory next to dest; dest must not exist or be an empty directory. */
  static async create(dest: string, options: SafeExtractOptions = {}): Promise<SafeExtractor> {
    await assertFreeDestination(dest);
    let staging: string;
    try {
      staging = await fsp.mkdtemp(join(dirname(dest), `.${basename(dest)}.custody-extract-`));
    } catch (e) {
      throw toIoError(e, dirname(dest), 'write');
    }
    return new SafeExtractor(dest, staging, options);
  }

  /** failed is the first refusal so far, if any. */
  get failed(): PolicyError | undefined {
    return this.failure;
  }

  private record(v: Omit<EntryVerdict, 'verdict'>, err?: unknown): void {
    if (err === undefined) {
      this.entries.push({ ...v, verdict: 'ok' });
      return;
    }
    // Only rule violations (PolicyError) are recorded; limits, malformed archives and I/O errors abort at once.
    if (!(err instanceof PolicyError)) throw err as Error;
    this.entries.push({ ...v, verdict: 'refused', code: err.code, reason: err.message });
    this.failure ??= err;
  }

  /** claim applies rules 3 and 4 (no writing through links) for a path about to become `kind`. */
  private claim(path: string, kind: NodeKind): 'new' | 'existing-directory' {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join('/');
      const k = this.nodes.get(parent);
      if (k === 'symlink') throw new PolicyError('ERR_PKG_PATH_ESCAPE', `${JSON.stringify(path)} would be written through the symlink ${JSON.stringify(parent)}`);
      if (k === 'file') throw new PolicyError('ERR_PKG_PATH_COLLISION', `${JSON.stringify(path)} needs ${JSON.stringify(parent)} as a directory, but it is a file`);
      const f = this.folded.get(foldName(parent));
      if (f !== undefined && f !== parent) {
        throw new PolicyError('ERR_PKG_PATH_COLLISION', `${JSON.stringify(parent)} and ${JSON.stringify(f)} collide when case is folded`);
      }
    }
    const existing = this.nodes.get(path);
    if (existing !== undefined) {
      if (existing === 'directory' && kind === 'directory') return 'existing-directory';
      throw new PolicyError('ERR_PKG_PATH_COLLISION', `duplicate entry ${JSON.stringify(path)}`);
    }
    const f = this.folded.get(foldName(path));
    if (f !== undefined && f !== path) {
      throw new PolicyError('ERR_PKG_PATH_COLLISION', `${JSON.stringify(path)} and ${JSON.stringify(f)} collide when case is folded`);
    }
    return 'new';
  }

  private remember(path: string, kind: NodeKind): void {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join('/');
      if (!this.nodes.has(parent)) {
        this.nodes.set(parent, 'directory');
        this.folded.set(foldName(parent), parent);
      }
    }
    this.nodes.set(path, kind);
    this.folded.set(foldName(path), path);
  }

  private async ensureDir(rel: string): Promise<void> {
    if (this.madeDirs.has(rel)) return;
    await this.ensureDir(rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '');
    try {
      await fsp.mkdir(join(this.staging, rel), { mode: 0o755 });
    } catch (e) {
      if ((e as { code?: string }).code !== 'EEXIST') throw toIoError(e, join(this.staging, rel), 'write');
    }
    this.madeDirs.add(rel);
  }

  private countEntry(): void {
    if (++this.count > this.budget.limits.maxEntries) {
      throw new LimitError('ERR_PKG_ENTRY_LIMIT', `more than ${this.budget.limits.maxEntries} entries`, {
        details: { cap: this.budget.limits.maxEntries },
      });
    }
  }

  private declare(size: number, path: string): void {
    this.declaredBytes += size;
    if (this.declaredBytes > this.budget.limits.maxTotalBytes) {
      throw new LimitError('ERR_PKG_SIZE_LIMIT', `${JSON.stringify(path)} takes the extracted size over the cap of ${this.budget.limits.maxTotalBytes} bytes`, {
        details: { cap: this.budget.limits.maxTotalBytes, declared: this.declaredBytes },
      });
    }
  }

  /** join adds a base directory (already checked) to an entry path. */
  private static under(base: string, rel: string): string {
    return base === '' ? rel : rel === '' ? base : `${base}/${rel}`;
  }

  /**
   * addTar extracts a decoded tar stream under `base` (a path already checked with {@link checkArchivePath}).
   * Rule violations are recorded and checking continues without writing; limits and I/O errors throw.
   */
  async addTar(source: ByteSource, base = '', slot?: number): Promise<void> {
    this.assertOpen();
    if (base !== '' && this.failure === undefined) {
      const v = { slot, path: base, type: 'directory' as const, size: 0, mode: 0o755 };
      try {
        if (this.claim(base, 'directory') === 'new') {
          this.remember(base, 'directory');
          await this.ensureDir(base);
        }
        this.record(v);
      } catch (e) {
        this.record(v, e);
      }
    }
    for await (const entry of readTar(source, this.tarOptions)) {
      const h = entry.header;
      const v = { slot, path: h.path, type: h.type, size: h.size, mode: h.mode };
      this.countEntry();
      let rel: string;
      try {
        rel = SafeExtractor.under(base, checkArchivePath(h.path, this.budget.limits));
        if (h.type === 'char-device' || h.type === 'block-device' || h.type === 'fifo') {
          throw new PolicyError('ERR_PKG_SPECIAL_FILE', `${JSON.stringify(h.path)} is a ${h.type}`);
        }
        if (h.type === 'unsupported') {
          throw new PolicyError('ERR_PKG_SPECIAL_FILE', `${JSON.stringify(h.path)} has unsupported type ${JSON.stringify(h.typeflag)}`);
        }
        if ((h.mode & MODE_SPECIAL_BITS) !== 0) {
          throw new PolicyError('ERR_PKG_MODE_REFUSED', `${JSON.stringify(h.path)} has mode ${h.mode.toString(8).padStart(4, '0')} (setuid, setgid or sticky)`);
        }
        if ((h.type === 'symlink' || h.type === 'hardlink') && !this.allowLinks) {
          throw new PolicyError('ERR_PKG_LINK_REFUSED', `${JSON.stringify(h.path)} is a ${h.type} to ${JSON.stringify(h.linkpath)}; links are refused`);
        }
        if (rel === '') {
          if (h.type !== 'directory') throw new PolicyError('ERR_PKG_PATH_INVALID', `${JSON.stringify(h.path)} names the extraction root`);
          this.entries.push({ ...v, verdict: 'omitted', reason: 'the root directory itself' });
          continue;
        }
        this.declare(h.size, h.path);
      } catch (e) {
        this.record(v, e);
        continue;
      }
      if (this.failure !== undefined) {
        // Check-only mode: a refusal happened; keep judging names but write nothing more.
        try {
          this.claim(rel, h.type === 'directory' ? 'directory' : h.type === 'symlink' ? 'symlink' : 'file');
          this.remember(rel, h.type === 'directory' ? 'directory' : h.type === 'symlink' ? 'symlink' : 'file');
          this.entries.push({ ...v, verdict: 'omitted', reason: 'not written: the extraction was already refused' });
        } catch (e) {
          this.record(v, e);
        }
        continue;
      }
      try {
        await this.writeEntry(rel, h.type, h.mode, h.size, h.linkpath, entry.body());
        this.record(v);
      } catch (e) {
        this.record(v, e);
      }
    }
  }

  private async writeEntry(rel: string, type: TarEntryType, mode: number, size: number, linkpath: string, body: ByteSource): Promise<void> {
    const abs = join(this.staging, rel);
    const parent = rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '';
    switch (type) {
      case 'directory': {
        if (this.claim(rel, 'directory') === 'existing-directory') return;
        this.remember(rel, 'directory');
        await this.ensureDir(rel);
        return;
      }
      case 'file': {
        this.claim(rel, 'file');
        this.remember(rel, 'file');
        await this.ensureDir(parent);
        await this.writeFile(rel, body, fileMode(mode), size);
        return;
      }
      case 'symlink': {
        this.checkSymlinkTarget(rel, linkpath);
        this.claim(rel, 'symlink');
        this.remember(rel, 'symlink');
        await this.ensureDir(parent);
        try {
          await fsp.symlink(linkpath, abs);
        } catch (e) {
          throw toIoError(e, abs, 'write');
        }
        this.stats.links++;
        return;
      }
      case 'hardlink': {
        const target = checkArchivePath(linkpath, this.budget.limits);
        if (this.nodes.get(target) !== 'file') {
          throw new PolicyError('ERR_PKG_PATH_ESCAPE', `hardlink ${JSON.stringify(rel)} must name a file extracted earlier, got ${JSON.stringify(linkpath)}`);
        }
        this.claim(rel, 'file');
        this.remember(rel, 'file');
        await this.ensureDir(parent);
        try {
          await fsp.link(join(this.staging, target), abs);
        } catch (e) {
          throw toIoError(e, abs, 'write');
        }
        this.stats.links++;
        return;
      }
      default:
        throw new Error(`archive/extract: unexpected entry type ${type}`);
    }
  }

  private checkSymlinkTarget(rel: string, linkpath: string): void {
    const show = JSON.stringify(linkpath);
    if (linkpath === '') throw new PolicyError('ERR_PKG_PATH_INVALID', `symlink ${JSON.stringify(rel)} has an empty target`);
    // eslint-disable-next-line no-control-regex
    if (/[\x00-\x1f\x7f\\]/.test(linkpath)) throw new PolicyError('ERR_PKG_PATH_INVALID', `symlink target ${show} contains a control character or backslash`);
    if (linkpath.startsWith('/') || /^[A-Za-z]:/.test(linkpath)) throw new PolicyError('ERR_PKG_PATH_ESCAPE', `symlink ${JSON.stringify(rel)} points to the absolute path ${show}`);
    if (linkpath.split('/').includes('..')) throw new PolicyError('ERR_PKG_PATH_ESCAPE', `symlink ${JSON.stringify(rel)} points upwards (${show})`);
  }

  /**
   * writeFile creates the staged file rel (O_EXCL|O_NOFOLLOW) and streams body into it, returning the bytes
   * written. Files of at most SMALL_FILE_BYTES are gathered and written with one synchronous open/write/close:
   * three thread-pool round trips per small file would dominate extraction time (as tar(1) does, the event loop is
   * held for that one small write). `size` is only a hint: a body that grows past SMALL_FILE_BYTES (a slot whose
   * decoded size is not known in advance) spills over to the streaming path, so at most SMALL_FILE_BYTES are held.
   */
  private async writeFile(rel: string, body: ByteSource, mode: number, size: number): Promise<number> {
    // One iterator for both paths: what the small path pulled is not read again when it spills over. It is closed
    // on every exit, so a decoder feeding it is released even when writing fails.
    const it = (async function* (): AsyncGenerator<Uint8Array> {
      yield* body;
    })();
    try {
      return await this.writeFileFrom(rel, it, mode, size);
    } finally {
      await it.return(undefined);
    }
  }

  private async writeFileFrom(rel: string, it: AsyncGenerator<Uint8Array>, mode: number, size: number): Promise<number> {
    const abs = join(this.staging, rel);
    const flags = fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW;
    let n = 0;
    const parts: Uint8Array[] = [];
    let spilled = false;
    if (size <= SMALL_FILE_BYTES) {
      for (;;) {
        const r = await it.next();
        if (r.done === true) break;
        parts.push(r.value);
        n += r.value.length;
        if (n > SMALL_FILE_BYTES) {
          spilled = true;
          break;
        }
      }
      if (!spilled) {
        const data = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
        try {
          const fd = openSync(abs, flags, mode);
          try {
            for (let off = 0; off < data.length; ) off += writeSync(fd, data, off, data.length - off);
          } finally {
            closeSync(fd);
          }
        } catch (e) {
          throw toIoError(e, abs, 'write');
        }
        this.writtenFiles.push(rel);
        this.stats.files++;
        this.stats.bytes += n;
        return n;
      }
    }
    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(abs, flags, mode);
    } catch (e) {
      throw toIoError(e, abs, 'write');
    }
    this.writtenFiles.push(rel);
    try {
      const put = async (chunk: Uint8Array): Promise<void> => {
        for (let off = 0; off < chunk.length; ) off += (await fh.write(chunk, off, chunk.length - off)).bytesWritten;
      };
      for (const chunk of parts) await put(chunk);
      for (;;) {
        const r = await it.next();
        if (r.done === true) break;
        await put(r.value);
        n += r.value.length;
      }
    } catch (e) {
      throw toIoError(e, abs, 'write');
    } finally {
      await fh.close();
    }
    this.stats.files++;
    this.stats.bytes += n;
    return n;
  }

  /**
   * addFile writes one file at `rel` (checked with rules 1–3) from a byte stream, e.g. a decoded non-tar slot.
   * `mode` goes through the same normalisation; setuid/setgid/sticky are refused.
   */
  async addFile(rawPath: string, source: ByteSource, mode: number, slot?: number, declaredSize = 0): Promise<void> {
    this.assertOpen();
    const v = { slot, path: rawPath, type: 'file' as const, size: declaredSize, mode };
    let rel: string;
    try {
      this.countEntry();
      rel = checkArchivePath(rawPath, this.budget.limits);
      if (rel === '') throw new PolicyError('ERR_PKG_PATH_INVALID', 'a file cannot be the extraction root');
      if ((mode & MODE_SPECIAL_BITS) !== 0) {
        throw new PolicyError('ERR_PKG_MODE_REFUSED', `${JSON.stringify(rawPath)} has mode ${mode.toString(8).padStart(4, '0')} (setuid, setgid or sticky)`);
      }
      this.declare(declaredSize, rawPath);
      this.claim(rel, 'file');
      this.remember(rel, 'file');
    } catch (e) {
      this.record(v, e);
      return;
    }
    if (this.failure !== undefined) {
      this.entries.push({ ...v, verdict: 'omitted', reason: 'not written: the extraction was already refused' });
      return;
    }
    await this.ensureDir(rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '');
    const written = await this.writeFile(rel, source, fileMode(mode), declaredSize);
    this.record({ ...v, size: written });
  }

  /** checkBase applies rules 1 and 2 to a base directory (e.g. a slot target) and returns it normalised. */
  checkBase(rawPath: string): string {
    return rawPath === '' ? '' : checkArchivePath(rawPath, this.budget.limits);
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('archive/extract: extractor already committed or aborted');
  }

  /** throwIfRefused throws the first refusal, with every refused verdict in its details. */
  throwIfRefused(): void {
    const f = this.failure;
    if (f === undefined) return;
    const refused = this.entries.filter((e) => e.verdict === 'refused');
    // f is a PolicyError, so its code is one of the policy codes PolicyError accepts.
    throw new PolicyError(f.code as ConstructorParameters<typeof PolicyError>[0], f.message, {
      cause: f,
      details: { refused: refused.slice(0, 50), refusedCount: refused.length },
    });
  }

  /**
   * syncStaged fsyncs every staged regular file, then every staged directory (deepest first, the staging root
   * last), so nothing the commit publishes can be lost to a crash. Called by commit; pkg/extract calls it before
   * linking a single staged file into place.
   */
  async syncStaged(): Promise<void> {
    const files = this.writtenFiles.splice(0);
    try {
      for (let i = 0; i < files.length; i += FSYNC_CONCURRENCY) {
        await Promise.all(files.slice(i, i + FSYNC_CONCURRENCY).map((rel) => this.fsync(join(this.staging, rel), 'file')));
      }
      const dirs = [...this.madeDirs].sort((a, b) => b.split('/').length - a.split('/').length || (a < b ? -1 : 1));
      // '' (the staging root) has depth 1 like a top-level directory; keep it last.
      dirs.splice(dirs.indexOf(''), 1);
      dirs.push('');
      for (const rel of dirs) await this.fsync(rel === '' ? this.staging : join(this.staging, rel), 'directory');
    } catch (e) {
      throw toIoError(e, this.staging, 'write');
    }
  }

  /** commit renames the staging directory to dest (after throwIfRefused and syncStaged) and syncs the parent. */
  async commit(): Promise<ExtractResult> {
    this.assertOpen();
    this.throwIfRefused();
    this.closed = true;
    try {
      await fsp.chmod(this.staging, 0o755);
      await this.syncStaged();
      await fsp.rename(this.staging, this.dest);
      await syncDir(dirname(this.dest));
    } catch (e) {
      await fsp.rm(this.staging, { recursive: true, force: true }).catch(() => undefined);
      if ((e as { code?: string }).code === 'ENOTEMPTY' || (e as { code?: string }).code === 'EEXIST') {
        throw new IoError('ERR_IO_EXISTS', `${this.dest} appeared during extraction; nothing was written`, { cause: e });
      }
      throw toIoError(e, this.dest, 'write');
    }
    return { root: this.dest, entries: this.entries, ...this.stats, directories: this.madeDirs.size - 1 };
  }

  /** abort removes the staging directory; safe to call more than once. */
  async abort(): Promise<void> {
    this.closed = true;
    await fsp.rm(this.staging, { recursive: true, force: true });
  }
}

/** fileMode keeps the execute bits and read bits, drops group/other write, and always lets the owner read/write. */
function fileMode(mode: number): number {
  return (mode & 0o755) | 0o600;
}

/** assertFreeDestination requires dest to be absent or an empty directory, with an existing parent. */
export async function assertFreeDestination(dest: string): Promise<void> {
  try {
    const st = await fsp.lstat(dest);
    if (!st.isDirectory() || (await fsp.readdir(dest)).length > 0) {
      throw new IoError('ERR_IO_EXISTS', `${dest} exists; extract into a new or empty directory`);
    }
  } catch (e) {
    if ((e as { code?: string }).code !== 'ENOENT') throw toIoError(e, dest, 'write');
  }
  try {
    const st = await fsp.stat(dirname(dest));
    if (!st.isDirectory()) throw new IoError('ERR_IO_NOT_FOUND', `${dirname(dest)} is not a directory`);
  } catch (e) {
    throw toIoError(e, dirname(dest), 'write');
  }
}

/**
 * extractTar extracts one decoded tar stream into dest with the rules of the module doc and returns every verdict.
 * On refusal the thrown error's details list the refused entries, and nothing exists at dest.
 *
 * @example
 * const result = await extractTar(createReadStream('app.tar'), '/srv/app');
 * for (const e of result.entries) console.log(e.verdict, e.path);
 */
export async function extractTar(source: ByteSource, dest: string, options: SafeExtractOptions = {}): Promise<ExtractResult> {
  const x = await SafeExtractor.create(dest, options);
  try {
    await x.addTar(countingSource(source, x.budget.guard(Number.MAX_SAFE_INTEGER, 'archive')));
    return await x.commit();
  } catch (e) {
    await x.abort();
    throw e;
  }
}

/** countingSource passes chunks through a DecodeGuard. */
export async function* countingSource(source: ByteSource, guard: DecodeGuard): AsyncGenerator<Uint8Array> {
  for await (const chunk of source) {
    guard.add(chunk.length);
    yield chunk;
  }
}
