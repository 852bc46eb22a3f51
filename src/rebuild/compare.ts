/**
 * rebuild/compare — compares two build outputs entry by entry and lists every difference, the check behind
 * "reproducible builds" (reproducible-builds.org: the same source, built twice, gives bit-identical artifacts).
 *
 * Kinds (both sides must be of one kind; {@link detectKind}):
 * - `directory`: walked with lstat (symlinks are entries, never followed); per entry: type, content (SHA-256),
 *   permission bits, mtime (whole seconds), symlink target. Ownership is not compared (a checkout's uid is local).
 * - `tar` (POSIX ustar/pax/GNU, optionally gzip-compressed; archive/tar-read): per entry: type, content, mode, mtime,
 *   uid, gid, link target, and the order of the entries both archives hold.
 * - `pspf` (PSPF/2025 packages; pkg/reader, quick verification): the signed metadata document (its SHA-256: any
 *   field, timestamps included), the launcher, and every slot — tar slots entry by entry as for `tar`, under
 *   `<slot id>/`, other slots as one entry named by the slot id; slot order.
 * - `sbom` (SPDX / CycloneDX JSON; sbom/read): components (by name: version, purl, licenses) and files (by name:
 *   SHA-256, SHA-1).
 * - `file`: any other regular file, as one entry (content and mode).
 *
 * Trust boundary: both outputs are untrusted. Entry counts are capped (REBUILD_MAX_ENTRIES, ERR_LIMIT_COUNT),
 * decoded bytes of compressed archives are capped (archive/extract's ByteBudget: size and ratio), contents are
 * streamed into SHA-256 and never held whole. Nothing is written.
 */
import { createReadStream, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { ByteBudget } from '../archive/extract.ts';
import { readTar, type ByteSource, type TarEntryType } from '../archive/tar.ts';
import { createMultiHasher, sha256 } from '../crypto/index.ts';
import { encodeHex } from '../encoding/bytes.ts';
import { IoError, LimitError, UsageError, toIoError } from '../errors.ts';
import { openRegularFile, readFileBounded } from '../io/files.ts';
import { hashOpenFile } from '../io/hash-file.ts';
import { isPspfFile } from '../pkg/sniff.ts';
import { SBOM_MAX_BYTES, looksLikeSbom, readSbomComponents } from '../sbom/read.ts';

/** REBUILD_MAX_ENTRIES caps the entries read from one side (1,000,000). */
export const REBUILD_MAX_ENTRIES = 1_000_000;
/** REBUILD_MAX_DECODED_BYTES caps the bytes decoded from one compressed archive (64 GiB). */
export const REBUILD_MAX_DECODED_BYTES = 64 * 1024 * 1024 * 1024;

/** OutputKind is what {@link detectKind} recognises. */
export type OutputKind = 'directory' | 'tar' | 'pspf' | 'sbom' | 'file';

/** EntryType is the type of one compared entry. */
export type EntryType = TarEntryType | 'other' | 'component' | 'slot' | 'metadata' | 'launcher';

/** OutputEntry is one entry of a build output, with the facts compared. */
export interface OutputEntry {
  path: string;
  type: EntryType;
  /** content: "sha256:<hex>" for files; for SBOM components the version, purl and licenses. */
  content?: string;
  mode?: number;
  mtime?: number;
  uid?: number;
  gid?: number;
  /** link: symlink or hardlink target. */
  link?: string;
  /** order: position in an archive (tar, pspf slots), compared among entries both sides hold. */
  order?: number;
  /** occurrence: for a path an archive holds more than once, which one this is (2, 3, …); absent for the first. */
  occurrence?: number;
}

/** DifferenceKind names what differs. */
export type DifferenceKind = 'only-in-a' | 'only-in-b' | 'type' | 'content' | 'mode' | 'mtime' | 'uid' | 'gid' | 'link' | 'order';

/** Difference is one reported difference; `a`/`b` are the two values (absent for only-in-*). */
export interface Difference {
  path: string;
  /** occurrence: set when the entry is the 2nd, 3rd, … of its path in the archive. */
  occurrence?: number;
  kind: DifferenceKind;
  a?: string;
  b?: string;
}

/** RebuildReport is the result of {@link compareOutputs}. */
export interface RebuildReport {
  kind: OutputKind;
  entriesA: number;
  entriesB: number;
  differences: Difference[];
}

const GZIP_MAGIC = [0x1f, 0x8b];

async function head(path: string, n: number): Promise<Uint8Array> {
  const { fh } = await openRegularFile(path, true);
  try {
    const b = Buffer.alloc(n);
    const { bytesRead } = await fh.read(b, 0, n, 0);
    return b.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

function isUstarHeader(b: Uint8Array): boolean {
  return b.length >= 512 && Buffer.from(b.subarray(257, 262)).toString('latin1') === 'ustar';
}

/** detectKind tells what a path holds: a directory, a PSPF package, a tar (maybe gzipped), an SBOM, or a file. */
export async function detectKind(path: string): Promise<OutputKind> {
  const st = await fsp.stat(path).catch((e: unknown) => {
    throw toIoError(e, path, 'read');
  });
  if (st.isDirectory()) return 'directory';
  if (await isPspfFile(path)) return 'pspf';
  const h = await head(path, 4096);
  if (isUstarHeader(h)) return 'tar';
  if (h[0] === GZIP_MAGIC[0] && h[1] === GZIP_MAGIC[1]) {
    // A gzip stream is a tar only if its first block is a ustar header.
    const inner = await gunzipHead(path, 512);
    if (isUstarHeader(inner)) return 'tar';
    return 'file';
  }
  if (looksLikeSbom(h)) return 'sbom';
  return 'file';
}

async function gunzipHead(path: string, n: number): Promise<Uint8Array> {
  const parts: Buffer[] = [];
  let got = 0;
  const stream = createReadStream(path).pipe(createGunzip());
  try {
    for await (const c of stream as AsyncIterable<Buffer>) {
      parts.push(c);
      got += c.length;
      if (got >= n) break;
    }
  } catch {
    // Not a valid gzip stream: not a tar.
  } finally {
    stream.destroy();
  }
  return Buffer.concat(parts).subarray(0, n);
}

class EntryList {
  readonly entries: OutputEntry[] = [];
  /** position counts archive members in stream order (tar entries, and package slots with their tar entries). */
  private position = 0;
  private readonly seen = new Map<string, number>();
  private readonly what: string;
  constructor(what: string) {
    this.what = what;
  }
  nextPosition(): number {
    return this.position++;
  }
  add(e: OutputEntry): void {
    if (this.entries.length >= REBUILD_MAX_ENTRIES) {
      throw new LimitError('ERR_LIMIT_COUNT', `${this.what} has more than ${REBUILD_MAX_ENTRIES} entries`, { details: { cap: REBUILD_MAX_ENTRIES } });
    }
    // A repeated path (possible in tar) is kept with its occurrence number, so that neither copy hides the other;
    // the path itself is not renamed (a renamed "x (#2)" could collide with a real entry of that name).
    const n = (this.seen.get(e.path) ?? 0) + 1;
    this.seen.set(e.path, n);
    this.entries.push(n === 1 ? e : { ...e, occurrence: n });
  }
}

async function sha256Of(source: AsyncIterable<Uint8Array>): Promise<string> {
  const h = await createMultiHasher(['sha256']);
  for await (const c of source) h.update(c);
  return `sha256:${h.digest().sha256}`;
}

/** HASH_CONCURRENCY: files hashed at once while walking a directory (small files are dominated by syscalls). */
const HASH_CONCURRENCY = 8;
/** SMALL_FILE_BYTES: files up to this size are read whole and hashed in one call. */
const SMALL_FILE_BYTES = 1024 * 1024;

async function hashFile(path: string): Promise<string> {
  const { fh, size } = await openRegularFile(path);
  try {
    if (size <= SMALL_FILE_BYTES) {
      const data = await fh.readFile();
      if (data.length !== size) throw new IoError('ERR_IO_READ_FAILED', `${path} changed while it was read`);
      return `sha256:${encodeHex(sha256(data))}`;
    }
    return `sha256:${(await hashOpenFile(fh, size, ['sha256'], path)).sha256}`;
  } finally {
    await fh.close();
  }
}

async function readDirectory(root: string): Promise<OutputEntry[]> {
  const list = new EntryList(root);
  const files: Array<{ entry: OutputEntry; path: string }> = [];
  const walk = async (dir: string, rel: string): Promise<void> => {
    let names: string[];
    try {
      names = (await fsp.readdir(dir)).sort();
    } catch (e) {
      throw toIoError(e, dir, 'read');
    }
    for (const name of names) {
      const path = join(dir, name);
      const r = rel === '' ? name : `${rel}/${name}`;
      const st = await fsp.lstat(path).catch((e: unknown) => {
        throw toIoError(e, path, 'read');
      });
      const base = { path: r, mode: st.mode & 0o7777, mtime: Math.floor(st.mtimeMs / 1000) };
      if (st.isSymbolicLink()) list.add({ ...base, type: 'symlink', link: await fsp.readlink(path) });
      else if (st.isDirectory()) {
        list.add({ ...base, type: 'directory' });
        await walk(path, r);
      } else if (st.isFile()) {
        const entry: OutputEntry = { ...base, type: 'file' };
        list.add(entry);
        files.push({ entry, path });
      } else list.add({ ...base, type: 'other' });
    }
  };
  await walk(root, '');
  // Contents are hashed after the walk, a few files at a time; each result lands in its own entry.
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < files.length) {
      const job = files[next++]!;
      job.entry.content = await hashFile(job.path);
    }
  };
  await Promise.all(Array.from({ length: Math.min(HASH_CONCURRENCY, files.length) }, worker));
  return list.entries;
}

/** readTarEntries reads a tar stream's entries into list, under prefix. */
async function readTarEntries(source: ByteSource, list: EntryList, prefix: string): Promise<void> {
  for await (const e of readTar(source)) {
    const h = e.header;
    const path = prefix + h.path.replace(/^\.\//, '').replace(/\/$/, '');
    const entry: OutputEntry = { path, type: h.type, mode: h.mode & 0o7777, mtime: h.mtime, uid: h.uid, gid: h.gid, order: list.nextPosition() };
    if (h.type === 'symlink' || h.type === 'hardlink') entry.link = h.linkpath;
    if (h.type === 'file' || h.type === 'unsupported') entry.content = await sha256Of(e.body());
    list.add(entry);
  }
}

async function* gunzipped(path: string, budget: ByteBudget): AsyncGenerator<Uint8Array> {
  const st = await fsp.stat(path);
  const guard = budget.guard(st.size, path);
  const stream = createReadStream(path).pipe(createGunzip());
  try {
    for await (const c of stream as AsyncIterable<Buffer>) {
      guard.add(c.length);
      yield c;
    }
  } finally {
    stream.destroy();
  }
}

async function readTarFile(path: string): Promise<OutputEntry[]> {
  const list = new EntryList(path);
  const h = await head(path, 2);
  const gz = h[0] === GZIP_MAGIC[0] && h[1] === GZIP_MAGIC[1];
  const budget = new ByteBudget({ maxTotalBytes: REBUILD_MAX_DECODED_BYTES });
  await readTarEntries(gz ? gunzipped(path, budget) : createReadStream(path), list, '');
  return list.entries;
}

async function readPspf(path: string): Promise<OutputEntry[]> {
  // The package reader and its codecs load only when a package is compared.
  const [{ openPackage }, { decodeStream }, { isTarChain }] = await Promise.all([
    import('../pkg/reader.ts'),
    import('../pkg/codec.ts'),
    import('../pkg/operations.ts'),
  ]);
  const list = new EntryList(path);
  const reader = await openPackage(path);
  try {
    const m = reader.model;
    list.add({ path: '(metadata)', type: 'metadata', content: `sha256:${encodeHex(sha256(m.metadataJson))}` });
    list.add({ path: '(launcher)', type: 'launcher', content: `sha256:${encodeHex(m.metadata.launcher.sha256)}` });
    const budget = new ByteBudget({ maxTotalBytes: REBUILD_MAX_DECODED_BYTES });
    for (const slot of m.slots) {
      const what = `slot ${slot.index} (${slot.meta.id})`;
      const decoded = decodeStream(reader.stream(slot.offset, slot.storedSize), slot.chain, {
        guard: budget.guard(slot.storedSize, what),
        maxBufferedBytes: reader.limits.maxBufferedSlotBytes,
        what,
      });
      const base: OutputEntry = { path: slot.meta.id, type: 'slot', order: list.nextPosition() };
      if (slot.meta.permissions !== null) base.mode = slot.meta.permissions;
      if (isTarChain(slot.chain)) {
        list.add({ ...base, content: slot.meta.operations });
        await readTarEntries(decoded, list, `${slot.meta.id}/`);
      } else {
        list.add({ ...base, content: await sha256Of(decoded) });
      }
    }
  } finally {
    await reader.close();
  }
  return list.entries;
}

async function readSbom(path: string): Promise<OutputEntry[]> {
  const sbom = readSbomComponents(await readFileBounded(path, { maxBytes: SBOM_MAX_BYTES, allowSymlink: true, what: 'sbom' }));
  const list = new EntryList(path);
  for (const c of sbom.components) {
    list.add({ path: `component ${c.name}`, type: 'component', content: [c.version ?? '-', c.purl ?? '-', (c.licenses ?? []).join(' AND ') || '-'].join(' ') });
  }
  for (const f of sbom.files) {
    list.add({ path: `file ${f.name}`, type: 'file', content: [f.sha256 ? `sha256:${f.sha256}` : '-', f.sha1 ? `sha1:${f.sha1}` : '-'].join(' ') });
  }
  return list.entries;
}

async function readFileEntry(path: string): Promise<OutputEntry[]> {
  const { fh, size } = await openRegularFile(path, true);
  try {
    const st = await fh.stat();
    return [{ path: '(file)', type: 'file', mode: st.mode & 0o7777, content: `sha256:${(await hashOpenFile(fh, size, ['sha256'], path)).sha256}` }];
  } finally {
    await fh.close();
  }
}

/** readOutput lists the entries of one build output of the given kind. */
export async function readOutput(path: string, kind: OutputKind): Promise<OutputEntry[]> {
  switch (kind) {
    case 'directory':
      return readDirectory(path);
    case 'tar':
      return readTarFile(path);
    case 'pspf':
      return readPspf(path);
    case 'sbom':
      return readSbom(path);
    case 'file':
      return readFileEntry(path);
  }
}

const KIND_ORDER: readonly DifferenceKind[] = ['only-in-a', 'only-in-b', 'type', 'content', 'link', 'mode', 'mtime', 'uid', 'gid', 'order'];
const octal = (n: number): string => `0${n.toString(8).padStart(3, '0')}`;

/** entryKey identifies an entry by path and occurrence; NUL cannot appear in a path, so keys cannot collide. */
function entryKey(e: { path: string; occurrence?: number }): string {
  return e.occurrence === undefined ? e.path : `${e.path}\u0000${e.occurrence}`;
}

/**
 * diffEntries compares two entry lists (an entry is its path and occurrence): entries of one side only, then for common paths each fact both sides have,
 * then the relative order of the common entries that carry one. Sorted by path, then by kind.
 */
export function diffEntries(a: readonly OutputEntry[], b: readonly OutputEntry[]): Difference[] {
  const mb = new Map(b.map((e) => [entryKey(e), e]));
  const ma = new Map(a.map((e) => [entryKey(e), e]));
  const out: Difference[] = [];
  const at = (e: OutputEntry, kind: DifferenceKind): Difference => (e.occurrence === undefined ? { path: e.path, kind } : { path: e.path, occurrence: e.occurrence, kind });
  for (const e of a) if (!mb.has(entryKey(e))) out.push(at(e, 'only-in-a'));
  for (const e of b) if (!ma.has(entryKey(e))) out.push(at(e, 'only-in-b'));
  const fact = (e: OutputEntry, kind: DifferenceKind, x: string | undefined, y: string | undefined): void => {
    if (x !== y) out.push({ ...at(e, kind), a: x ?? '(none)', b: y ?? '(none)' });
  };
  const str = (n: number | undefined, f: (n: number) => string = String): string | undefined => (n === undefined ? undefined : f(n));
  for (const x of a) {
    const y = mb.get(entryKey(x));
    if (y === undefined) continue;
    if (x.type !== y.type) {
      out.push({ ...at(x, 'type'), a: x.type, b: y.type });
      continue;
    }
    fact(x, 'content', x.content, y.content);
    fact(x, 'link', x.link, y.link);
    fact(x, 'mode', str(x.mode, octal), str(y.mode, octal));
    fact(x, 'mtime', str(x.mtime), str(y.mtime));
    fact(x, 'uid', str(x.uid), str(y.uid));
    fact(x, 'gid', str(x.gid), str(y.gid));
  }
  // Order: positions among the entries both sides hold (an entry only one side has does not shift the others).
  const ordered = (l: readonly OutputEntry[], other: Map<string, OutputEntry>): OutputEntry[] =>
    l.filter((e) => e.order !== undefined && other.get(entryKey(e))?.order !== undefined).sort((p, q) => p.order! - q.order!);
  const oa = ordered(a, mb);
  const ob = ordered(b, ma);
  const pos = new Map(ob.map((e, i) => [entryKey(e), i]));
  oa.forEach((e, i) => {
    const j = pos.get(entryKey(e))!;
    if (i !== j) out.push({ ...at(e, 'order'), a: `#${i + 1}`, b: `#${j + 1}` });
  });
  return out.sort(
    (p, q) =>
      (p.path < q.path ? -1 : p.path > q.path ? 1 : 0) || (p.occurrence ?? 1) - (q.occurrence ?? 1) || KIND_ORDER.indexOf(p.kind) - KIND_ORDER.indexOf(q.kind),
  );
}

/**
 * compareOutputs detects the kind of both outputs (they must agree: ERR_REBUILD_KIND_MISMATCH), reads both and
 * returns every difference. An empty `differences` means the two outputs are identical in every compared fact.
 *
 * @example
 * const r = await compareOutputs('build1/app.tar', 'build2/app.tar');
 * if (r.differences.length > 0) console.log(formatDifference(r.differences[0]!));
 */
export async function compareOutputs(pathA: string, pathB: string): Promise<RebuildReport> {
  const [ka, kb] = [await detectKind(pathA), await detectKind(pathB)];
  if (ka !== kb) throw new UsageError('ERR_REBUILD_KIND_MISMATCH', `A is a ${ka}, B is a ${kb}: compare two outputs of one kind`);
  const a = await readOutput(pathA, ka);
  const b = await readOutput(pathB, kb);
  return { kind: ka, entriesA: a.length, entriesB: b.length, differences: diffEntries(a, b) };
}

/** OCCURRENCE_SUFFIX is how an occurrence is rendered after a path: " (#N)". */
const OCCURRENCE_SUFFIX = / \(#[0-9]+\)$/;

/**
 * formatDifference renders one difference as its report line: `<kind> <path>[ (#N)][ A=<a> B=<b>]`. The 2nd, 3rd, …
 * entry of a repeated path is `<path> (#N)`; a path that itself ends in " (#N)" is rendered with its occurrence
 * too (`x (#2) (#1)`), so a line names one entry only.
 */
export function formatDifference(d: Difference): string {
  const kind = d.kind === 'only-in-a' ? 'only-in-A' : d.kind === 'only-in-b' ? 'only-in-B' : d.kind;
  const path = d.occurrence !== undefined || OCCURRENCE_SUFFIX.test(d.path) ? `${d.path} (#${d.occurrence ?? 1})` : d.path;
  return d.a === undefined ? `${kind} ${path}` : `${kind} ${path} A=${d.a} B=${d.b}`;
}
