/**
 * sbom/collect — what an SBOM describes, gathered from one of three inputs into one neutral model
 * ({@link SbomInput}) that sbom/spdx (SPDX 2.3) and sbom/cyclonedx (CycloneDX 1.6) render:
 *
 * - a **directory**: every regular file under it, walked without following symlinks, each read ONCE feeding SHA-1
 *   and SHA-256 (SPDX 2.3 §8.4 requires a SHA1 checksum per file; SHA-256 is what Custody trusts). Names are
 *   relative, `/`-separated, sorted by their UTF-8 bytes. Symlinks, FIFOs, sockets and devices are left out and
 *   listed in `skipped` (a link's target is not content of the tree, and following it could leave the tree); each
 *   file and directory is opened with O_NOFOLLOW relative to its open parent, so one swapped for a symlink after
 *   readdir is refused (ERR_IO_READ_FAILED / ERR_IO_NOT_REGULAR_FILE), never followed. Hidden
 *   files are included. Caps: {@link SBOM_MAX_FILES} files, {@link SBOM_MAX_DEPTH} levels (ERR_SBOM_TREE_LIMIT);
 *   a name that is not valid UTF-8 is refused (ERR_SBOM_FILE_NAME), since it could not be written faithfully.
 * - an **npm lockfile** (package-lock.json / npm-shrinkwrap.json, docs.npmjs.com "package-lock.json"):
 *   lockfileVersion 2 and 3 through the `packages` map, version 1 through the nested `dependencies` tree. Each
 *   installed package keeps name, version, resolved, integrity (SRI), license as declared (a string, or the legacy
 *   `{type}` object / array forms joined with OR), the dev/optional/devOptional/peer flags, a purl
 *   (`pkg:npm/%40scope/name@version`, packageurl-js) and its dependency edges, resolved the way Node resolves
 *   `require` (nearest `node_modules` up the path). Caps: {@link LOCKFILE_MAX_BYTES} and a path of
 *   {@link LOCKFILE_KEY_MAX_CHARS} characters (ERR_LIMIT_SIZE), v1 nesting of {@link LOCKFILE_V1_MAX_DEPTH} levels
 *   (ERR_LIMIT_DEPTH).
 * - a **PSPF package** (docs/packages.md): verified to the deep level (signature, every stored byte against the
 *   signed SHA-256) under "any signer" — an SBOM says what is inside, not whom to trust — then the launcher and each
 *   slot's stored bytes are hashed again for SHA-1 alongside SHA-256, which must equal the verified digest.
 *
 * Trust boundary: lockfiles and packages are attacker-controlled. Package names and lockfile paths are checked
 * before use (`../`, absolute paths, backslashes, control characters, empty names → ERR_SBOM_LOCKFILE_NAME naming
 * the entry); no name from a lockfile is ever used to open a file.
 */
import { closeSync, constants, existsSync, fstatSync, lstatSync, openSync, opendirSync, promises as fsp, readSync, readdirSync, type Dir, type Dirent, type OpenDirOptions } from 'node:fs';
import { basename } from 'node:path';
import { isMainThread } from 'node:worker_threads';
import { PackageURL } from 'packageurl-js';
import { createDigest, digestHex } from '../crypto/index.ts';
import { decodeBase64, encodeHex } from '../encoding/bytes.ts';
import { isJsonObject, parseJsonObject, type JsonObject, type JsonValue } from '../encoding/json.ts';
import { printable } from '../encoding/text.ts';
import { FormatError, IoError, LimitError, UsageError, toIoError } from '../errors.ts';
import { readFileBounded } from '../io/files.ts';
import { isPspfFile, openPackage } from '../pkg/reader.ts';
import { verifyPackage } from '../pkg/verify.ts';

/** SBOM_MAX_FILES caps the files of a directory (also the subject cap of an in-toto statement). */
export const SBOM_MAX_FILES = 100_000;
/** SBOM_MAX_DEPTH caps directory nesting below the root. */
export const SBOM_MAX_DEPTH = 64;
/** LOCKFILE_MAX_BYTES caps a lockfile (the largest monorepo lockfiles are tens of MiB). */
export const LOCKFILE_MAX_BYTES = 64 * 1024 * 1024;
/** LOCKFILE_MAX_PACKAGES caps the installed packages of one lockfile. */
export const LOCKFILE_MAX_PACKAGES = 200_000;
/** LOCKFILE_V1_MAX_DEPTH caps the nesting of a lockfileVersion 1 `dependencies` tree (ERR_LIMIT_DEPTH). */
export const LOCKFILE_V1_MAX_DEPTH = 64;
/**
 * LOCKFILE_KEY_MAX_CHARS caps a package's lockfile path (ERR_LIMIT_SIZE): keys of 16,384 or more characters hash
 * by length alone in V8, so a deep v1 tree of long names would make every Set/Map lookup collide (quadratic time).
 */
export const LOCKFILE_KEY_MAX_CHARS = 4096;
/** NPM_NAME_MAX_CHARS: npm refuses names longer than 214 characters. */
const NPM_NAME_MAX_CHARS = 214;
/** FIELD_MAX_CHARS caps version, resolved, integrity and license strings. */
const FIELD_MAX_CHARS = 4096;
/** HASH_BUFFER_BYTES: one reused read buffer; small files take one read, large ones stream through it. */
const HASH_BUFFER_BYTES = 1024 * 1024;

/** SbomFile is one file with its SHA-1 and SHA-256 (lowercase hex). */
export interface SbomFile {
  /** name: relative, `/`-separated (directories), or `launcher` / `slot/<index>/<id>` (PSPF). */
  name: string;
  size: number;
  sha1: string;
  sha256: string;
  /** comment: what the file is, when the name alone does not say (PSPF slots: operations and target). */
  comment?: string;
}

/** DependencyKind is how a package requires another (npm's dependency fields). */
export type DependencyKind = 'prod' | 'dev' | 'optional' | 'peer';

/** SbomPackage is one installed npm package (or the lockfile's root project). */
export interface SbomPackage {
  /** key: the lockfile location (`node_modules/a/node_modules/@s/b`; "" for the root): unique per lockfile. */
  key: string;
  name: string;
  version: string | undefined;
  resolved: string | undefined;
  /** integrity: SRI digests as algorithm → lowercase hex (sha1, sha256, sha384, sha512). */
  integrity: Record<string, string>;
  /** license: as declared (legacy object/array forms flattened to an OR expression), undefined when absent. */
  license: string | undefined;
  /** purl: `pkg:npm/…` (undefined for a root project without a name). */
  purl: string | undefined;
  dev: boolean;
  optional: boolean;
  devOptional: boolean;
  peer: boolean;
  /** dependencies: edges to other packages of the same input, by key, sorted. */
  dependencies: Array<{ key: string; kind: DependencyKind }>;
}

/** SbomSourceFile is the input file itself (lockfile or package), the subject an attestation names. */
export interface SbomSourceFile {
  name: string;
  size: number;
  sha1: string;
  sha256: string;
}

/** SbomInput is everything an SBOM document describes, in a deterministic order. */
export interface SbomInput {
  kind: 'directory' | 'npm-lockfile' | 'pspf';
  /** name of what is described: the directory's basename, the root project's name, the package's signed name. */
  name: string;
  version: string | undefined;
  /** files sorted by name (directory: the tree; PSPF: launcher and slots; lockfile: none). */
  files: SbomFile[];
  /** root: the project a lockfile belongs to (its `packages[""]`), undefined otherwise. */
  root: SbomPackage | undefined;
  /** packages: installed packages sorted by key (lockfile only). */
  packages: SbomPackage[];
  /** source: the input file (lockfile, PSPF package); undefined for a directory. */
  source: SbomSourceFile | undefined;
  /** skipped: directory entries left out (symlinks, special files), sorted by name. */
  skipped: Array<{ name: string; type: 'symlink' | 'other' }>;
  /** lockfileVersion for lockfiles; signer fingerprint facts are not part of an SBOM. */
  lockfileVersion?: number;
}

export interface CollectDirectoryOptions {
  maxFiles?: number;
  maxDepth?: number;
  /** listAllMaxBytes: directories up to this st_size are listed in one call (default {@link DIR_LIST_ALL_MAX_BYTES}). */
  listAllMaxBytes?: number;
  /**
   * chdir lets the walk move the process's working directory into each directory it holds open (through
   * /proc/self/fd/N, so it is exactly that directory) and open entries by their bare names: one path component
   * instead of a /proc lookup per file (a third of the walk's open cost). The working directory is put back (by a
   * descriptor held on it) before the walk returns or throws. Only for a caller that runs no other file I/O with
   * relative paths meanwhile, such as the CLI; ignored off Linux and in worker threads (they cannot chdir).
   */
  chdir?: boolean;
}

const utf8Strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function hashFd(fd: number, buf: Buffer): { size: number; sha1: string; sha256: string } {
  // A regular file's read returns less than asked only at its end, so a short first read is the whole file: hash it
  // one-shot (no Hash objects, no second read).
  const first = readSync(fd, buf, 0, buf.length, null);
  if (first < buf.length) {
    const data = buf.subarray(0, first);
    return { size: first, sha1: digestHex('sha1', data), sha256: digestHex('sha256', data) };
  }
  const h1 = createDigest('sha1');
  const h256 = createDigest('sha256');
  let size = 0;
  for (let n = first; n > 0; n = readSync(fd, buf, 0, buf.length, null)) {
    const chunk = buf.subarray(0, n);
    // One read feeds both digests.
    h1.update(chunk);
    h256.update(chunk);
    size += n;
  }
  return { size, sha1: encodeHex(h1.digest()), sha256: encodeHex(h256.digest()) };
}

function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** sortByUtf8 sorts by the UTF-8 bytes of `key` (`LC_ALL=C sort` order), encoding each key once, not per compare. */
function sortByUtf8<T>(items: T[], key: (x: T) => string): T[] {
  const keyed = items.map((x) => ({ k: Buffer.from(key(x), 'utf8'), x }));
  keyed.sort((a, b) => Buffer.compare(a.k, b.k));
  return keyed.map((e) => e.x);
}

/**
 * collectDirectory walks `dir` and hashes every regular file (see the module doc for what is left out and why).
 *
 * Synchronous file system calls on purpose: an SBOM of a tree is a batch job, and for the typical small file the
 * thread-pool round trip of each async call (open, fstat, read, close) costs more than the hashing (bench `sbom`).
 */
export function collectDirectory(dir: string, options: CollectDirectoryOptions = {}): Promise<SbomInput> {
  try {
    return Promise.resolve(collectDirectorySync(dir, options));
  } catch (e) {
    return Promise.reject(e instanceof Error ? e : new Error(String(e)));
  }
}

function collectDirectorySync(dir: string, options: CollectDirectoryOptions): SbomInput {
  const maxFiles = options.maxFiles ?? SBOM_MAX_FILES;
  const maxDepth = options.maxDepth ?? SBOM_MAX_DEPTH;
  const listAllMaxBytes = options.listAllMaxBytes ?? DIR_LIST_ALL_MAX_BYTES;
  const files: SbomFile[] = [];
  const skipped: SbomInput['skipped'] = [];
  const buf = Buffer.allocUnsafe(HASH_BUFFER_BYTES);
  // In chdir mode the working directory is the directory being walked, entered through its held descriptor.
  const home = options.chdir === true && PROC_FD !== undefined && isMainThread ? holdCwd() : undefined;
  const enter = (o: OpenedDir, abs: string): void => {
    try {
      process.chdir(o.at);
    } catch (e) {
      throw toIoError(e, abs, 'read');
    }
  };
  const walk = (abs: string, rel: string, depth: number, opened: OpenedDir): void => {
    try {
      if (home !== undefined) enter(opened, abs);
      // Entries come sorted so that the depth-first walk meets paths in UTF-8 byte order (see listTreeDir): the
      // result needs no sort of its own.
      for (const ent of listTreeDir(opened, abs, rel, listAllMaxBytes)) {
        const name = ent.name;
        const childRel = rel === '' ? name : `${rel}/${name}`;
        // A plain concatenation: `abs` is already normalized and `name` is one entry (no separators). What is
        // opened goes through the directory's descriptor (childAt), so a parent swapped meanwhile is not followed.
        const childAbs = abs.endsWith('/') ? abs + name : `${abs}/${name}`;
        const childAt = home === undefined ? `${opened.at}/${name}` : name;
        const type = ent.type;
        if (type === 'dir') {
          if (depth + 1 > maxDepth) {
            throw new LimitError('ERR_SBOM_TREE_LIMIT', `${printable(childRel, 200)} nests deeper than the cap of ${maxDepth} directories`, {
              details: { cap: maxDepth },
            });
          }
          walk(childAbs, childRel, depth + 1, openTreeDir(childAt, childAbs, false));
          if (home !== undefined) enter(opened, abs);
        } else if (type === 'file') {
          if (files.length >= maxFiles) {
            throw new LimitError('ERR_SBOM_TREE_LIMIT', `the tree has more than ${maxFiles} files, over the cap`, { details: { cap: maxFiles } });
          }
          files.push(hashTreeFile(childAt, childAbs, childRel, buf));
        } else {
          skipped.push({ name: childRel, type });
        }
      }
    } finally {
      closeSync(opened.fd);
    }
  };
  try {
    // The root is what the user named: a symlink there is followed once; links inside the tree never are.
    walk(dir, '', 0, openTreeDir(dir, dir, true));
  } finally {
    if (home !== undefined) home.restore();
  }
  return {
    kind: 'directory',
    name: basename(dir),
    version: undefined,
    files,
    root: undefined,
    packages: [],
    source: undefined,
    skipped,
  };
}

/** PROC_FD: Linux's per-descriptor paths, through which a name is opened relative to an open directory (openat). */
const PROC_FD = existsSync('/proc/self/fd') ? '/proc/self/fd' : undefined;

/**
 * holdCwd opens the working directory so that {@link collectDirectory}'s chdir mode can return to exactly it (even
 * renamed meanwhile); undefined when it cannot be opened (then the walk opens through /proc paths instead).
 */
function holdCwd(): { restore(): void } | undefined {
  let fd: number;
  try {
    fd = openSync('.', constants.O_RDONLY | constants.O_DIRECTORY);
  } catch {
    return undefined;
  }
  return {
    restore(): void {
      try {
        process.chdir(`${PROC_FD}/${fd}`);
      } catch (e) {
        throw toIoError(e, 'the working directory', 'read');
      } finally {
        closeSync(fd);
      }
    },
  };
}

/**
 * DIR_LIST_ALL_MAX_BYTES: a directory whose st_size is at most this is listed in one readdirSync call (one
 * getdents loop, no per-entry JavaScript round trip); a larger one is streamed entry by entry, so a directory of
 * millions of names is refused at the file cap (ERR_SBOM_TREE_LIMIT) instead of being held in memory whole first.
 * st_size grows with the entries on ext4, XFS, btrfs and tmpfs (about 20–40 bytes per name): 1 MiB is tens of
 * thousands of names, and the listing of that many costs a few MiB at most.
 */
export const DIR_LIST_ALL_MAX_BYTES = 1024 * 1024;

/** OpenedDir is a directory of the walk: its descriptor and the path its entries are read and opened under. */
export interface OpenedDir {
  fd: number;
  at: string;
}

/** TreeEntry is one typed entry of a directory of the walk. */
interface TreeEntry {
  name: string;
  type: 'dir' | 'file' | 'symlink' | 'other';
  /** key: the name's UTF-8 bytes, with a `/` appended for a directory (see listTreeDir). */
  key: Buffer;
}

const SLASH = Buffer.from('/');

/**
 * openTreeDir opens a directory of the walk with O_DIRECTORY|O_NOFOLLOW: a directory swapped for a symlink after
 * readdir is refused (ERR_IO_READ_FAILED), never walked outside the tree. Its entries are then read and opened
 * through /proc/self/fd/N (Linux), i.e. in the very directory opened; elsewhere through the path, checked to be the
 * same directory (dev/ino) when it is listed (listTreeDir).
 */
export function openTreeDir(openPath: string, abs: string, follow: boolean): OpenedDir {
  let fd: number;
  try {
    fd = openSync(openPath, constants.O_RDONLY | constants.O_DIRECTORY | (follow ? 0 : constants.O_NOFOLLOW));
  } catch (e) {
    const errno = (e as { code?: string }).code;
    if (!follow && (errno === 'ELOOP' || errno === 'ENOTDIR')) {
      throw new IoError('ERR_IO_READ_FAILED', `${abs} is no longer a directory (a symlink or file took its place while the tree was read)`, { cause: e });
    }
    throw toIoError(e, abs, 'read');
  }
  return { fd, at: PROC_FD === undefined ? openPath : `${PROC_FD}/${fd}` };
}

/**
 * readTreeDir lists the raw entries of an opened directory: in one call when it is small enough
 * ({@link DIR_LIST_ALL_MAX_BYTES}), else streamed through a Dir handle (its constructor alone costs more than a
 * small directory's whole listing, which is why it is not the common path).
 */
function* readTreeDir(opened: OpenedDir, abs: string, listAllMaxBytes: number): Generator<Dirent<Buffer>> {
  const options = { encoding: 'buffer' as const, withFileTypes: true as const };
  let size: number;
  try {
    const st = fstatSync(opened.fd);
    size = st.size;
    if (PROC_FD === undefined) {
      // No /proc: entries are read and opened by path, so the path must still be the directory held open.
      const b = lstatSync(opened.at);
      if (st.dev !== b.dev || st.ino !== b.ino) throw new IoError('ERR_IO_READ_FAILED', `${abs} changed while the tree was read`);
    }
  } catch (e) {
    throw toIoError(e, abs, 'read');
  }
  if (size <= listAllMaxBytes) {
    let all: Array<Dirent<Buffer>>;
    try {
      all = readdirSync(opened.at, options);
    } catch (e) {
      throw toIoError(e, abs, 'read');
    }
    yield* all;
    return;
  }
  let d: Dir;
  try {
    d = opendirSync(opened.at, options as unknown as OpenDirOptions);
  } catch (e) {
    throw toIoError(e, abs, 'read');
  }
  try {
    for (;;) {
      let ent: Dirent<Buffer> | null;
      try {
        ent = d.readSync() as unknown as Dirent<Buffer> | null;
      } catch (e) {
        throw toIoError(e, abs, 'read');
      }
      if (ent === null) return;
      yield ent;
    }
  } finally {
    d.closeSync();
  }
}

/**
 * listTreeDir reads an opened directory into typed entries sorted by their UTF-8 bytes, a directory's name taken
 * with a `/` after it. Under that order a depth-first walk meets full paths in UTF-8 byte order (`LC_ALL=C sort`):
 * of two entries, a file `f` and a directory `d` whose paths continue `d/…`, the first byte where `f` and `d/`
 * differ decides (no name holds a `/`, so neither is a prefix of the other).
 */
export function listTreeDir(opened: OpenedDir, abs: string, rel: string, listAllMaxBytes = DIR_LIST_ALL_MAX_BYTES): TreeEntry[] {
  const out: TreeEntry[] = [];
  for (const ent of readTreeDir(opened, abs, listAllMaxBytes)) {
    const raw = ent.name;
    let name: string;
    try {
      name = utf8Strict.decode(raw);
    } catch {
      throw new FormatError('ERR_SBOM_FILE_NAME', `a file name in ${printable(rel || '.', 200)} is not valid utf-8`, {
        details: { directory: rel || '.', nameHex: raw.subarray(0, 64).toString('hex') },
      });
    }
    let type: TreeEntry['type'] = ent.isDirectory() ? 'dir' : ent.isFile() ? 'file' : ent.isSymbolicLink() ? 'symlink' : 'other';
    if (type === 'other') {
      // Some file systems report no type in readdir (DT_UNKNOWN); ask lstat rather than leave a real file out.
      let st;
      try {
        st = lstatSync(`${opened.at}/${name}`);
      } catch (e) {
        throw toIoError(e, abs.endsWith('/') ? abs + name : `${abs}/${name}`, 'read');
      }
      type = st.isDirectory() ? 'dir' : st.isFile() ? 'file' : st.isSymbolicLink() ? 'symlink' : 'other';
    }
    out.push({ name, type, key: type === 'dir' ? Buffer.concat([raw, SLASH]) : raw });
  }
  return out.sort((a, b) => Buffer.compare(a.key, b.key));
}

function hashTreeFile(openPath: string, abs: string, rel: string, buf: Buffer): SbomFile {
  let fd: number;
  try {
    // O_NOFOLLOW: an entry swapped for a symlink after readdir is refused, never followed out of the tree;
    // O_NONBLOCK: a FIFO planted in its place cannot block the walk.
    fd = openSync(openPath, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    if ((e as { code?: string }).code === 'ELOOP') throw new IoError('ERR_IO_NOT_REGULAR_FILE', `${abs} became a symlink while the tree was read`, { cause: e });
    throw toIoError(e, abs, 'read');
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new IoError('ERR_IO_NOT_REGULAR_FILE', `${abs} is no longer a regular file`);
    const h = hashFd(fd, buf);
    if (h.size !== st.size) throw new IoError('ERR_IO_READ_FAILED', `${abs} changed size while it was read`);
    return { name: rel, size: h.size, sha1: h.sha1, sha256: h.sha256 };
  } catch (e) {
    throw toIoError(e, abs, 'read');
  } finally {
    closeSync(fd);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// npm lockfiles

function lockSchema(message: string, details?: Record<string, unknown>): FormatError {
  return new FormatError('ERR_SBOM_LOCKFILE_SCHEMA', message, details ? { details } : {});
}

function hostile(entry: string, why: string): FormatError {
  return new FormatError('ERR_SBOM_LOCKFILE_NAME', `lockfile entry "${printable(entry, 120)}": ${why}`, { details: { entry: printable(entry, 200) } });
}

// eslint-disable-next-line no-control-regex -- refusing control characters is the point
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/**
 * checkPackageName refuses what npm itself would never install and what would be dangerous as a path: empty,
 * over 214 characters, control characters, backslashes, a leading `.` or `/`, `..`, and more than one `/` (only
 * `@scope/name` has one). Other characters npm's legacy names allow (capitals, `~`, `!`) are kept.
 */
export function checkPackageName(name: string, entry: string): string {
  if (name === '') throw hostile(entry, 'the package name is empty');
  if (name.length > NPM_NAME_MAX_CHARS) throw hostile(entry, `the package name is longer than ${NPM_NAME_MAX_CHARS} characters`);
  if (CONTROL_RE.test(name)) throw hostile(entry, 'the package name contains control characters');
  if (name.includes('\\')) throw hostile(entry, 'the package name contains a backslash');
  if (name.startsWith('/')) throw hostile(entry, 'the package name is an absolute path');
  const parts = name.split('/');
  if (parts.length > 2 || (parts.length === 2 && !parts[0]!.startsWith('@'))) throw hostile(entry, 'the package name has a "/" outside "@scope/name"');
  if (parts.length === 1 && name.startsWith('@')) throw hostile(entry, 'the package name is a scope without a name');
  for (const p of parts) {
    if (p === '' || p === '@') throw hostile(entry, 'the package name has an empty part');
    if (p === '.' || p === '..' || p.startsWith('.')) throw hostile(entry, 'the package name is or starts with "." or ".."');
    // npm refuses these too; a purl library trims them, so " " would have no purl name and " a" the purl of "a".
    if (p.trim() !== p) throw hostile(entry, 'the package name has leading or trailing spaces');
  }
  return name;
}

/** checkLockPath refuses hostile `packages` keys: absolute, `..`, `.`, empty parts, backslashes, control characters. */
function checkLockPath(key: string): void {
  checkKeyLength(key);
  if (CONTROL_RE.test(key)) throw hostile(key, 'the path contains control characters');
  if (key.includes('\\')) throw hostile(key, 'the path contains a backslash');
  if (key.startsWith('/') || /^[A-Za-z]:/.test(key)) throw hostile(key, 'the path is absolute');
  for (const p of key.split('/')) {
    if (p === '' || p === '.' || p === '..') throw hostile(key, 'the path has an empty, "." or ".." part');
  }
}

function checkKeyLength(key: string): void {
  if (key.length > LOCKFILE_KEY_MAX_CHARS) {
    throw new LimitError('ERR_LIMIT_SIZE', `lockfile entry "${printable(key, 120)}…": the path is ${key.length} characters, over the cap of ${LOCKFILE_KEY_MAX_CHARS}`, {
      details: { size: key.length, cap: LOCKFILE_KEY_MAX_CHARS },
    });
  }
}

/** nameFromKey derives a package's name from its lockfile path: what follows the last `node_modules/`. */
function nameFromKey(key: string): string | undefined {
  const i = key.lastIndexOf('node_modules/');
  if (i < 0) return undefined;
  return key.slice(i + 'node_modules/'.length);
}

function optString(v: JsonValue | undefined, field: string, entry: string): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw lockSchema(`lockfile entry "${printable(entry, 120)}": "${field}" must be a string`);
  if (v.length > FIELD_MAX_CHARS) throw lockSchema(`lockfile entry "${printable(entry, 120)}": "${field}" is longer than ${FIELD_MAX_CHARS} characters`);
  if (CONTROL_RE.test(v)) throw lockSchema(`lockfile entry "${printable(entry, 120)}": "${field}" contains control characters`);
  return v;
}

function flag(v: JsonValue | undefined, field: string, entry: string): boolean {
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw lockSchema(`lockfile entry "${printable(entry, 120)}": "${field}" must be true or false`);
  return v;
}

/**
 * declaredLicense flattens what package.json may declare: a string; the legacy `{type, url}` object; or an array of
 * those (the old `licenses` field), joined as "A OR B" (npm's own reading of a licenses list).
 */
function declaredLicense(v: JsonValue | undefined, entry: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  const one = (x: JsonValue): string => {
    if (typeof x === 'string') return x;
    if (isJsonObject(x) && typeof x['type'] === 'string') return x['type'];
    throw lockSchema(`lockfile entry "${printable(entry, 120)}": "license" must be a string or {"type": …}`);
  };
  const text = Array.isArray(v) ? v.map(one).filter((s) => s !== '').join(' OR ') : one(v);
  if (text.length > FIELD_MAX_CHARS || CONTROL_RE.test(text)) throw lockSchema(`lockfile entry "${printable(entry, 120)}": "license" is too long or contains control characters`);
  return text === '' ? undefined : text;
}

/** SRI_ALGORITHMS: the hash-expression algorithms of W3C Subresource Integrity (and sha1, which npm still writes). */
const SRI_BYTES: Readonly<Record<string, number>> = { sha1: 20, sha256: 32, sha384: 48, sha512: 64 };

/** parseIntegrity reads an SRI string ("sha512-<base64> sha1-<base64>") into algorithm → hex. */
function parseIntegrity(v: string | undefined, entry: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (v === undefined) return out;
  for (const token of v.split(/\s+/).filter(Boolean)) {
    const dash = token.indexOf('-');
    const alg = dash < 0 ? '' : token.slice(0, dash);
    const bytes = SRI_BYTES[alg];
    if (bytes === undefined) continue; // SRI: unknown algorithms are ignored
    const b64 = token.slice(dash + 1).replace(/\?.*$/, '');
    let d: Uint8Array;
    try {
      d = decodeBase64(b64, bytes, 'integrity');
    } catch (e) {
      throw lockSchema(`lockfile entry "${printable(entry, 120)}": integrity ${alg} is not ${bytes} bytes of base64`, { cause: String(e) });
    }
    out[alg] = encodeHex(d);
  }
  return out;
}

function npmPurl(name: string, version: string | undefined, entry: string): string {
  const slash = name.indexOf('/');
  const namespace = name.startsWith('@') && slash > 0 ? name.slice(0, slash) : undefined;
  const local = namespace === undefined ? name : name.slice(slash + 1);
  // packageurl-js percent-encodes the '@' of the scope (purl-spec: "pkg:npm/%40angular/animation@12.3.1").
  try {
    return new PackageURL('npm', namespace, local, version, undefined, undefined).toString();
  } catch (e) {
    // A backstop: checkPackageName should refuse every name packageurl-js does (its errors are plain Errors).
    throw hostile(entry, `the package name cannot be written as a purl: ${printable((e as Error).message, 120)}`);
  }
}

interface RawEntry {
  key: string;
  obj: JsonObject;
}

/** depNames lists the dependency names of an entry per kind (v2/v3 objects; v1 `requires`). */
function depNames(obj: JsonObject, entry: string, v1: boolean): Array<{ name: string; kind: DependencyKind }> {
  const out: Array<{ name: string; kind: DependencyKind }> = [];
  const fields: Array<[string, DependencyKind]> = v1
    ? [['requires', 'prod']]
    : [
        ['dependencies', 'prod'],
        ['optionalDependencies', 'optional'],
        ['peerDependencies', 'peer'],
        ['devDependencies', 'dev'],
      ];
  for (const [field, kind] of fields) {
    const m = obj[field];
    if (m === undefined) continue;
    if (!isJsonObject(m)) throw lockSchema(`lockfile entry "${printable(entry, 120)}": "${field}" must be an object`);
    for (const n of Object.keys(m)) out.push({ name: checkPackageName(n, `${entry} ${field}`), kind });
  }
  return out;
}

/** resolveDep finds where Node would load `name` from `key`: `key/node_modules/name`, then each ancestor's. */
function resolveDep(keys: ReadonlySet<string>, key: string, name: string): string | undefined {
  let base = key;
  for (;;) {
    const candidate = base === '' ? `node_modules/${name}` : `${base}/node_modules/${name}`;
    if (keys.has(candidate)) return candidate;
    if (base === '') return undefined;
    const i = base.lastIndexOf('/node_modules/');
    base = i < 0 ? '' : base.slice(0, i);
  }
}

/** flattenV1 turns the nested lockfileVersion 1 `dependencies` tree into v2-style keyed entries. */
function flattenV1(deps: JsonValue | undefined, prefix: string, depth: number, out: RawEntry[]): void {
  if (deps === undefined) return;
  if (!isJsonObject(deps)) throw lockSchema(`lockfile: "dependencies" under "${printable(prefix || '(root)', 120)}" must be an object`);
  if (depth >= LOCKFILE_V1_MAX_DEPTH) {
    throw new LimitError('ERR_LIMIT_DEPTH', `lockfile: "dependencies" under "${printable(prefix, 120)}…" nest deeper than the cap of ${LOCKFILE_V1_MAX_DEPTH} levels`, {
      details: { cap: LOCKFILE_V1_MAX_DEPTH },
    });
  }
  for (const [name, obj] of Object.entries(deps)) {
    const key = `${prefix}${prefix ? '/' : ''}node_modules/${name}`;
    checkKeyLength(key);
    checkPackageName(name, key);
    if (!isJsonObject(obj)) throw lockSchema(`lockfile entry "${printable(key, 120)}" must be an object`);
    if (out.length >= LOCKFILE_MAX_PACKAGES) throw new LimitError('ERR_LIMIT_COUNT', `the lockfile lists more than ${LOCKFILE_MAX_PACKAGES} packages`);
    out.push({ key, obj });
    flattenV1(obj['dependencies'], key, depth + 1, out);
  }
}

/**
 * parseLockfile reads package-lock.json bytes into the SBOM model (see the module doc). `fileName` is what the
 * `source` file is called in the SBOM.
 */
export function parseLockfile(bytes: Uint8Array, fileName = 'package-lock.json'): SbomInput {
  const doc = parseJsonObject(bytes, { maxBytes: LOCKFILE_MAX_BYTES, maxDepth: 512, maxValues: 20_000_000, what: 'lockfile' });
  const lv = doc['lockfileVersion'];
  if (lv !== 1 && lv !== 2 && lv !== 3) throw lockSchema(`lockfile: "lockfileVersion" must be 1, 2 or 3, got ${printable(JSON.stringify(lv) ?? 'nothing', 40)}`);
  const raw: RawEntry[] = [];
  let rootObj: JsonObject;
  const v1 = lv === 1 || !isJsonObject(doc['packages']);
  if (!v1) {
    const pk = doc['packages'] as JsonObject;
    const n = Object.keys(pk).length;
    if (n > LOCKFILE_MAX_PACKAGES) throw new LimitError('ERR_LIMIT_COUNT', `the lockfile lists ${n} packages, over the cap of ${LOCKFILE_MAX_PACKAGES}`);
    const r = pk[''];
    rootObj = isJsonObject(r) ? r : {};
    for (const [key, obj] of Object.entries(pk)) {
      if (key === '') continue;
      checkLockPath(key);
      if (!isJsonObject(obj)) throw lockSchema(`lockfile entry "${printable(key, 120)}" must be an object`);
      // Workspace links point at another entry of the map (the linked folder), which is listed itself.
      if (obj['link'] === true) continue;
      raw.push({ key, obj });
    }
  } else {
    if (lv !== 1) throw lockSchema('lockfile: "packages" must be an object');
    rootObj = { name: doc['name'] ?? null, version: doc['version'] ?? null };
    if (rootObj['name'] === null) delete rootObj['name'];
    if (rootObj['version'] === null) delete rootObj['version'];
    flattenV1(doc['dependencies'], '', 0, raw);
  }
  const keys = new Set(raw.map((r) => r.key));
  const toPackage = (key: string, obj: JsonObject, nameHint: string | undefined): SbomPackage => {
    const entry = key === '' ? '(root)' : key;
    const nameField = obj['name'];
    if (nameField !== undefined && typeof nameField !== 'string') throw lockSchema(`lockfile entry "${printable(entry, 120)}": "name" must be a string`);
    // The name is checked by checkPackageName (ERR_SBOM_LOCKFILE_NAME), not as a plain field.
    const declared = nameField;
    const name = declared ?? nameHint;
    if (name === undefined) throw hostile(entry, 'no package name (neither a "name" field nor a node_modules path)');
    checkPackageName(name, entry);
    const version = optString(obj['version'], 'version', entry);
    const resolved = optString(obj['resolved'], 'resolved', entry);
    const integrity = parseIntegrity(optString(obj['integrity'], 'integrity', entry), entry);
    return {
      key,
      name,
      version,
      resolved,
      integrity,
      license: declaredLicense(obj['license'] ?? obj['licenses'], entry),
      purl: npmPurl(name, version, entry),
      dev: flag(obj['dev'], 'dev', entry),
      optional: flag(obj['optional'], 'optional', entry),
      devOptional: flag(obj['devOptional'], 'devOptional', entry),
      peer: flag(obj['peer'], 'peer', entry),
      dependencies: [],
    };
  };
  const edges = (key: string, obj: JsonObject): SbomPackage['dependencies'] => {
    const seen = new Map<string, DependencyKind>();
    // The root's devDependencies are edges too; a package's own devDependencies are never installed.
    for (const d of depNames(obj, key || '(root)', v1)) {
      if (d.kind === 'dev' && key !== '') continue;
      const to = resolveDep(keys, key, d.name);
      if (to !== undefined && to !== key && !seen.has(to)) seen.set(to, d.kind);
    }
    return [...seen].map(([k, kind]) => ({ key: k, kind })).sort((a, b) => compareUtf8(a.key, b.key));
  };
  const packages = sortByUtf8(raw, (r) => r.key).map((r) => {
    const p = toPackage(r.key, r.obj, nameFromKey(r.key) ?? basename(r.key));
    p.dependencies = edges(r.key, r.obj);
    return p;
  });
  const rootName = optString(rootObj['name'], 'name', '(root)') ?? optString(doc['name'], 'name', '(root)');
  // A root project without a name (allowed for private projects) is described as "" with no purl.
  const root = rootName === undefined ? { ...toPackage('', { ...rootObj, name: 'x' }, undefined), name: '', purl: undefined } : toPackage('', { ...rootObj, name: rootName }, undefined);
  if (v1) {
    // v1 has no root dependency lists: every top-level package is a direct dependency (dev when flagged).
    root.dependencies = packages
      .filter((p) => !p.key.slice('node_modules/'.length).includes('/node_modules/'))
      .map((p) => ({ key: p.key, kind: (p.dev ? 'dev' : p.optional ? 'optional' : 'prod') }));
  } else {
    root.dependencies = edges('', rootObj);
  }
  const h1 = createDigest('sha1');
  const h256 = createDigest('sha256');
  h1.update(bytes);
  h256.update(bytes);
  return {
    kind: 'npm-lockfile',
    name: root.name,
    version: root.version,
    files: [],
    root,
    packages,
    source: { name: fileName, size: bytes.length, sha1: encodeHex(h1.digest()), sha256: encodeHex(h256.digest()) },
    skipped: [],
    lockfileVersion: lv,
  };
}

/** collectLockfile reads a lockfile from disk under {@link LOCKFILE_MAX_BYTES} (ERR_LIMIT_SIZE) and parses it. */
export async function collectLockfile(path: string, maxBytes = LOCKFILE_MAX_BYTES): Promise<SbomInput> {
  const bytes = await readFileBounded(path, { maxBytes, allowSymlink: true, what: 'lockfile' });
  return parseLockfile(bytes, basename(path));
}

// ---------------------------------------------------------------------------------------------------------------
// PSPF packages

/**
 * collectPackage verifies a PSPF package (deep level, any signer: structure, signature and every stored byte) and
 * describes it: the package file itself as `source`, the launcher and each slot's stored bytes as files.
 */
export async function collectPackage(path: string): Promise<SbomInput> {
  const reader = await openPackage(path);
  try {
    const report = await verifyPackage(reader, { level: 'deep', trust: { anySigner: true } });
    const m = reader.model;
    const whole = await hashRange(reader, 0, m.fileSize);
    const files: SbomFile[] = [];
    if (m.launcherSize > 0) {
      const l = await hashRange(reader, 0, m.launcherSize);
      if (l.sha256 !== encodeHex(m.metadata.launcher.sha256)) throw changed(path, 'launcher');
      files.push({ name: 'launcher', size: m.launcherSize, ...l, comment: 'PSPF launcher' });
    }
    for (const s of m.slots) {
      const h = await hashRange(reader, s.offset, s.storedSize);
      // The deep verification above matched these bytes to the signed digest; a second read that differs means the
      // file changed underneath us.
      if (h.sha256 !== encodeHex(s.meta.sha256)) throw changed(path, `slot ${s.index}`);
      files.push({
        name: `slot/${s.index}/${s.meta.id}`,
        size: s.storedSize,
        ...h,
        comment: `PSPF slot ${s.index} "${s.meta.id}": stored bytes (operations ${s.meta.operations || 'raw'}), target ${s.meta.target}`,
      });
    }
    return {
      kind: 'pspf',
      name: report.name,
      version: report.version === '' ? undefined : report.version,
      files,
      root: undefined,
      packages: [],
      source: { name: basename(path), size: m.fileSize, ...whole },
      skipped: [],
    };
  } finally {
    await reader.close();
  }
}

function changed(path: string, what: string): IoError {
  return new IoError('ERR_IO_READ_FAILED', `${path}: the ${what} changed between verification and hashing`);
}

async function hashRange(
  reader: { stream(offset: number, length: number): AsyncGenerator<Uint8Array> },
  start: number,
  length: number,
): Promise<{ sha1: string; sha256: string }> {
  const h1 = createDigest('sha1');
  const h256 = createDigest('sha256');
  for await (const chunk of reader.stream(start, length)) {
    h1.update(chunk);
    h256.update(chunk);
  }
  return { sha1: encodeHex(h1.digest()), sha256: encodeHex(h256.digest()) };
}

// ---------------------------------------------------------------------------------------------------------------

/**
 * collectInput describes whatever `path` is: a directory; a `*.json` file (package-lock.json, npm-shrinkwrap.json
 * or another name) as an npm lockfile; a file ending with the PSPF end magic as a package. Anything else is
 * ERR_SBOM_INPUT_KIND. A symlink named here is followed once (the user chose it); links inside a tree never are.
 */
export async function collectInput(path: string, options: CollectDirectoryOptions = {}): Promise<SbomInput> {
  let st;
  try {
    st = await fsp.stat(path);
  } catch (e) {
    throw toIoError(e, path, 'read');
  }
  if (st.isDirectory()) return collectDirectory(path, options);
  if (st.isFile()) {
    if (path.endsWith('.json')) return collectLockfile(path);
    if (await isPspfFile(path)) return collectPackage(path);
  }
  throw new UsageError('ERR_SBOM_INPUT_KIND', `${path} is neither a directory, an npm lockfile (*.json) nor a PSPF package`);
}
