/**
 * archive/zip — a small, bounded, read-only ZIP reader (PKWARE APPNOTE.TXT 6.3.10, §4.3: local file header,
 * central directory, end of central directory record), for data archives such as osv.dev's per-ecosystem `all.zip`.
 * It never extracts to disk: callers get each entry's bytes in memory.
 *
 * Trust boundary: every byte of the archive is attacker-controlled. What is read, and what is refused:
 * - the end of central directory record (EOCD) is searched in the last 65,557 bytes; a single-disk archive only
 *   (ERR_ZIP_UNSUPPORTED for multi-disk); the central directory must lie inside the file, before the EOCD;
 * - zip64 in any form is refused (ERR_ZIP_UNSUPPORTED): a zip64 locator before the EOCD, a 0xFFFF/0xFFFFFFFF
 *   sentinel in a count, size or offset, or a zip64 extra field (0x0001) on an entry;
 * - encrypted entries (flag bit 0 or 6) and methods other than 0 (stored) and 8 (deflate) are refused;
 * - names: UTF-8 when flag bit 11 says so, else printable ASCII only; no absolute paths, drive letters, "..",
 *   empty or "." segments, backslashes, NUL or control characters, no duplicates (ERR_ZIP_PATH);
 * - caps (ZipLimits): entry count (ERR_ZIP_ENTRY_LIMIT), each entry's and the total declared uncompressed size
 *   (ERR_ZIP_SIZE_LIMIT), and the ratio uncompressed/compressed (ERR_ZIP_RATIO_LIMIT) — all checked from the
 *   central directory BEFORE anything is inflated; inflation itself is capped at the declared size, so a lying
 *   header cannot make it produce more;
 * - each local header must agree with its central directory entry (signature, method, name) and entries must not
 *   overlap (the "overlapping files" bomb shares one compressed stream between many entries);
 * - the inflated bytes must have the declared size and CRC-32 (ERR_ZIP_FORMAT).
 * Data descriptors (flag bit 3) are allowed: the central directory's sizes and CRC are the ones used.
 */
import { crc32, inflateRawSync } from 'node:zlib';
import { FormatError, LimitError } from '../errors.ts';

/** ZipLimits are the caps applied while reading an archive. */
export interface ZipLimits {
  /** maxEntries caps the central directory's entry count (default 500,000: osv.dev's largest export is below). */
  maxEntries: number;
  /** maxEntryBytes caps one entry's uncompressed size (default 64 MiB). */
  maxEntryBytes: number;
  /** maxTotalBytes caps the sum of the entries' uncompressed sizes (default 4 GiB). */
  maxTotalBytes: number;
  /** maxRatio caps uncompressed/compressed for a deflated entry (default 200; JSON deflates around 5-20×). */
  maxRatio: number;
  /** maxNameBytes caps one entry name (default 1,024 bytes). */
  maxNameBytes: number;
}

export const DEFAULT_ZIP_LIMITS: Readonly<ZipLimits> = Object.freeze({
  maxEntries: 500_000,
  maxEntryBytes: 64 * 1024 * 1024,
  maxTotalBytes: 4 * 1024 * 1024 * 1024,
  maxRatio: 200,
  maxNameBytes: 1024,
});

/** ZipEntry is one central directory entry that passed the checks of the module doc. */
export interface ZipEntry {
  name: string;
  /** method: 0 stored, 8 deflate. */
  method: 0 | 8;
  compressedSize: number;
  /** size is the declared uncompressed size (checked when the entry is read). */
  size: number;
  crc32: number;
  /** isDirectory: the name ends in "/" (such entries carry no data). */
  isDirectory: boolean;
  /** localOffset is the offset of the entry's local file header. */
  localOffset: number;
}

// APPNOTE §4.3.16 (EOCD), §4.3.12 (central directory header), §4.3.7 (local file header), §4.3.14/15 (zip64).
const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const EOCD_BYTES = 22;
const CENTRAL_BYTES = 46;
const LOCAL_BYTES = 30;
const ZIP64_LOCATOR_BYTES = 20;
const MAX_COMMENT_BYTES = 0xffff;
const ZIP64_EXTRA_ID = 0x0001;
const FLAG_ENCRYPTED = 0x0001;
const FLAG_STRONG_ENCRYPTION = 0x0040;
const FLAG_UTF8 = 0x0800;
const utf8 = new TextDecoder('utf-8', { fatal: true });

function bad(message: string, details?: Record<string, unknown>): never {
  throw new FormatError('ERR_ZIP_FORMAT', `zip: ${message}`, details ? { details } : {});
}

function unsupported(message: string): never {
  throw new FormatError('ERR_ZIP_UNSUPPORTED', `zip: ${message}`);
}

/** isZip tells whether bytes start like a ZIP archive (a local header, or the EOCD of an empty archive). */
export function isZip(bytes: Uint8Array): boolean {
  if (bytes.length < 4) return false;
  const sig = Buffer.from(bytes.buffer, bytes.byteOffset, 4).readUInt32LE(0);
  return sig === SIG_LOCAL || sig === SIG_EOCD;
}

/** checkZipName refuses the unsafe names of the module doc; returns the name. */
export function checkZipName(name: string): string {
  const refuse = (why: string): never => {
    throw new FormatError('ERR_ZIP_PATH', `zip: entry name ${JSON.stringify(name)} ${why}`);
  };
  if (name === '') refuse('is empty');
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(name)) refuse('contains control characters');
  if (name.includes('\\')) refuse('contains a backslash');
  if (name.startsWith('/')) refuse('is absolute');
  if (/^[A-Za-z]:/.test(name)) refuse('starts with a drive letter');
  const parts = name.endsWith('/') ? name.slice(0, -1).split('/') : name.split('/');
  for (const p of parts) {
    if (p === '..') refuse('contains ".."');
    if (p === '' || p === '.') refuse('has an empty or "." segment');
  }
  return name;
}

/** ZipReader holds a parsed central directory over the archive's bytes; `read` inflates one entry. */
export class ZipReader {
  readonly entries: readonly ZipEntry[];
  private readonly bytes: Buffer;
  private readonly dataOffsets: ReadonlyMap<ZipEntry, number>;

  constructor(bytes: Buffer, entries: readonly ZipEntry[], dataOffsets: ReadonlyMap<ZipEntry, number>) {
    this.bytes = bytes;
    this.entries = entries;
    this.dataOffsets = dataOffsets;
  }

  /** read returns the entry's uncompressed bytes, checked against its declared size and CRC-32. */
  read(entry: ZipEntry): Uint8Array {
    const start = this.dataOffsets.get(entry);
    if (start === undefined) throw new Error('archive/zip: entry of another archive');
    const stored = this.bytes.subarray(start, start + entry.compressedSize);
    let out: Buffer;
    if (entry.method === 0) out = stored;
    else {
      try {
        // maxOutputLength bounds the work even if the stream claims less than it holds.
        out = inflateRawSync(stored, { maxOutputLength: Math.max(1, entry.size) });
      } catch (e) {
        const code = (e as { code?: unknown }).code;
        if (code === 'ERR_BUFFER_TOO_LARGE') bad(`${JSON.stringify(entry.name)} inflates beyond its declared ${entry.size} bytes`);
        return bad(`${JSON.stringify(entry.name)}: corrupt deflate data`, { cause: String(e) });
      }
    }
    if (out.length !== entry.size) bad(`${JSON.stringify(entry.name)}: expected ${entry.size} bytes, got ${out.length}`);
    const crc = crc32(out) >>> 0;
    if (crc !== entry.crc32) bad(`${JSON.stringify(entry.name)}: crc-32 mismatch (expected ${hex8(entry.crc32)}, got ${hex8(crc)})`);
    return out;
  }
}

function hex8(n: number): string {
  return n.toString(16).padStart(8, '0');
}

function findEocd(b: Buffer): number {
  const lowest = Math.max(0, b.length - EOCD_BYTES - MAX_COMMENT_BYTES);
  for (let i = b.length - EOCD_BYTES; i >= lowest; i--) {
    // The comment length must reach exactly to the end of the file: a signature inside a comment does not count.
    if (b.readUInt32LE(i) === SIG_EOCD && i + EOCD_BYTES + b.readUInt16LE(i + 20) === b.length) return i;
  }
  return bad('no end of central directory record (not a zip file, or truncated)');
}

function decodeName(raw: Buffer, flags: number, maxNameBytes: number): string {
  if (raw.length > maxNameBytes) throw new FormatError('ERR_ZIP_PATH', `zip: an entry name of ${raw.length} bytes is over the cap of ${maxNameBytes}`);
  if ((flags & FLAG_UTF8) !== 0) {
    try {
      return utf8.decode(raw);
    } catch {
      throw new FormatError('ERR_ZIP_PATH', 'zip: an entry name flagged utf-8 is not valid utf-8');
    }
  }
  // Without the UTF-8 flag names are CP437; only its ASCII subset means the same everywhere.
  for (const c of raw) {
    if (c >= 0x80) throw new FormatError('ERR_ZIP_PATH', 'zip: an entry name is not ascii and not flagged utf-8');
  }
  return raw.toString('latin1');
}

function hasZip64Extra(extra: Buffer): boolean {
  let p = 0;
  while (p + 4 <= extra.length) {
    const id = extra.readUInt16LE(p);
    const len = extra.readUInt16LE(p + 2);
    if (id === ZIP64_EXTRA_ID) return true;
    p += 4 + len;
  }
  return false;
}

/**
 * openZip parses the central directory of an in-memory archive under `limits` (checks in the module doc) and
 * returns a reader. Nothing is inflated yet.
 *
 * @example
 * const zip = openZip(await readFile('all.zip'));
 * for (const e of zip.entries) if (!e.isDirectory) use(e.name, zip.read(e));
 */
export function openZip(bytes: Uint8Array, limits: Partial<ZipLimits> = {}): ZipReader {
  const lim: ZipLimits = { ...DEFAULT_ZIP_LIMITS, ...limits };
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length < EOCD_BYTES) bad(`${b.length} bytes is too short for a zip file`);
  const eocd = findEocd(b);
  // APPNOTE §4.3.15: a zip64 end of central directory locator sits right before the EOCD.
  if (eocd >= ZIP64_LOCATOR_BYTES && b.readUInt32LE(eocd - ZIP64_LOCATOR_BYTES) === SIG_ZIP64_LOCATOR) unsupported('zip64 archives are not supported');
  const disk = b.readUInt16LE(eocd + 4);
  const cdDisk = b.readUInt16LE(eocd + 6);
  const countDisk = b.readUInt16LE(eocd + 8);
  const count = b.readUInt16LE(eocd + 10);
  const cdSize = b.readUInt32LE(eocd + 12);
  const cdOffset = b.readUInt32LE(eocd + 16);
  if (count === 0xffff || countDisk === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) unsupported('zip64 archives are not supported');
  if (disk !== 0 || cdDisk !== 0 || countDisk !== count) unsupported('multi-disk archives are not supported');
  if (count > lim.maxEntries) {
    throw new LimitError('ERR_ZIP_ENTRY_LIMIT', `zip: ${count} entries, over the cap of ${lim.maxEntries}`, { details: { count, cap: lim.maxEntries } });
  }
  if (cdOffset + cdSize > eocd) bad('the central directory lies outside the file');

  const entries: ZipEntry[] = [];
  const dataOffsets = new Map<ZipEntry, number>();
  const names = new Set<string>();
  let total = 0;
  let p = cdOffset;
  for (let i = 0; i < count; i++) {
    if (p + CENTRAL_BYTES > cdOffset + cdSize) bad(`central directory entry ${i} is truncated`);
    if (b.readUInt32LE(p) !== SIG_CENTRAL) bad(`central directory entry ${i} has a bad signature`, { offset: p });
    const flags = b.readUInt16LE(p + 8);
    const method = b.readUInt16LE(p + 10);
    const crc = b.readUInt32LE(p + 16);
    const csize = b.readUInt32LE(p + 20);
    const usize = b.readUInt32LE(p + 24);
    const nameLen = b.readUInt16LE(p + 28);
    const extraLen = b.readUInt16LE(p + 30);
    const commentLen = b.readUInt16LE(p + 32);
    const diskStart = b.readUInt16LE(p + 34);
    const localOffset = b.readUInt32LE(p + 42);
    const end = p + CENTRAL_BYTES + nameLen + extraLen + commentLen;
    if (end > cdOffset + cdSize) bad(`central directory entry ${i} is truncated`);
    const rawName = b.subarray(p + CENTRAL_BYTES, p + CENTRAL_BYTES + nameLen);
    const extra = b.subarray(p + CENTRAL_BYTES + nameLen, p + CENTRAL_BYTES + nameLen + extraLen);
    if (csize === 0xffffffff || usize === 0xffffffff || localOffset === 0xffffffff || diskStart === 0xffff || hasZip64Extra(extra)) {
      unsupported('zip64 entries are not supported');
    }
    if ((flags & (FLAG_ENCRYPTED | FLAG_STRONG_ENCRYPTION)) !== 0) unsupported('encrypted entries are not supported');
    if (method !== 0 && method !== 8) unsupported(`compression method ${method} is not supported (only stored and deflate)`);
    const name = checkZipName(decodeName(rawName, flags, lim.maxNameBytes));
    if (names.has(name)) throw new FormatError('ERR_ZIP_PATH', `zip: entry name ${JSON.stringify(name)} appears twice`);
    names.add(name);
    if (usize > lim.maxEntryBytes) {
      throw new LimitError('ERR_ZIP_SIZE_LIMIT', `zip: ${JSON.stringify(name)} is ${usize} bytes uncompressed, over the cap of ${lim.maxEntryBytes}`, {
        details: { size: usize, cap: lim.maxEntryBytes },
      });
    }
    total += usize;
    if (total > lim.maxTotalBytes) {
      throw new LimitError('ERR_ZIP_SIZE_LIMIT', `zip: the entries total more than ${lim.maxTotalBytes} bytes uncompressed`, { details: { cap: lim.maxTotalBytes } });
    }
    if (method === 0 && csize !== usize) bad(`${JSON.stringify(name)} is stored but its sizes differ (${csize} and ${usize})`);
    if (method === 8 && usize > Math.max(csize, 1) * lim.maxRatio) {
      throw new LimitError('ERR_ZIP_RATIO_LIMIT', `zip: ${JSON.stringify(name)} expands ${usize} / ${csize} bytes, over the ratio cap of ${lim.maxRatio}`, {
        details: { size: usize, compressed: csize, cap: lim.maxRatio },
      });
    }
    const entry: ZipEntry = { name, method, compressedSize: csize, size: usize, crc32: crc, isDirectory: name.endsWith('/'), localOffset };
    if (entry.isDirectory && usize !== 0) bad(`directory entry ${JSON.stringify(name)} carries data`);
    entries.push(entry);
    p = end;
  }

  // Local headers: inside the file, before the central directory, agreeing with the central entries, disjoint.
  const spans: Array<[number, number, string]> = [];
  for (const e of entries) {
    const lp = e.localOffset;
    if (lp + LOCAL_BYTES > cdOffset) bad(`the local header of ${JSON.stringify(e.name)} lies outside the data area`);
    if (b.readUInt32LE(lp) !== SIG_LOCAL) bad(`the local header of ${JSON.stringify(e.name)} has a bad signature`, { offset: lp });
    const lflags = b.readUInt16LE(lp + 6);
    const lmethod = b.readUInt16LE(lp + 8);
    const lnameLen = b.readUInt16LE(lp + 26);
    const lextraLen = b.readUInt16LE(lp + 28);
    const lextra = b.subarray(lp + LOCAL_BYTES + lnameLen, Math.min(cdOffset, lp + LOCAL_BYTES + lnameLen + lextraLen));
    if (hasZip64Extra(lextra)) unsupported('zip64 entries are not supported');
    if (lmethod !== e.method) bad(`${JSON.stringify(e.name)}: the local header says method ${lmethod}, the central directory ${e.method}`);
    if ((lflags & (FLAG_ENCRYPTED | FLAG_STRONG_ENCRYPTION)) !== 0) unsupported('encrypted entries are not supported');
    const dataStart = lp + LOCAL_BYTES + lnameLen + lextraLen;
    const dataEnd = dataStart + e.compressedSize;
    if (dataEnd > cdOffset) bad(`the data of ${JSON.stringify(e.name)} runs past the central directory`);
    const lname = decodeName(b.subarray(lp + LOCAL_BYTES, lp + LOCAL_BYTES + lnameLen), lflags, lim.maxNameBytes);
    if (lname !== e.name) bad(`the local header names ${JSON.stringify(lname)}, the central directory ${JSON.stringify(e.name)}`);
    dataOffsets.set(e, dataStart);
    spans.push([lp, dataEnd, e.name]);
  }
  spans.sort((x, y) => x[0] - y[0]);
  for (let i = 1; i < spans.length; i++) {
    if (spans[i]![0] < spans[i - 1]![1]) bad(`entries ${JSON.stringify(spans[i - 1]![2])} and ${JSON.stringify(spans[i]![2])} overlap`);
  }
  return new ZipReader(b, entries, dataOffsets);
}
