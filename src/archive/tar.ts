/**
 * archive/tar — a minimal streaming reader and a deterministic writer for POSIX ustar (IEEE 1003.1-1988) with
 * pax extended headers (IEEE 1003.1-2001 `pax` format), the format FlavorPack v0.3.0 tar slots use (Python
 * `tarfile`, PAX_FORMAT). The reader also understands GNU long names (`L`/`K`) and base-256 numbers, because
 * `tar -czf` on Linux writes them.
 *
 * Trust boundary: the reader parses attacker-controlled bytes and never touches the file system. It refuses, with
 * ERR_PKG_ARCHIVE_FORMAT: a bad header checksum, numeric fields that are not octal/base-256, negative or unsafe
 * sizes, data after a non-file entry, truncation, a missing end-of-archive marker, non-zero bytes after it, pax
 * records that are malformed or over `maxMetaBytes`, GNU sparse files, and names that are not UTF-8. It does NOT
 * judge paths, types or modes: that is archive/extract's job.
 *
 * Writer (deterministic, `tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@EPOCH` in spirit):
 * - entries are written in the order given; `tarDirectory` sorts paths by UTF-8 bytes (parents first);
 * - uid = gid = 0, uname = gname = "", mtime from SOURCE_DATE_EPOCH or 0;
 * - modes are normalised to 0755 (directories and executables) or 0644;
 * - header fields are written the way Python's tarfile writes them (`0000644\0`, checksum `%06o\0 `, device
 *   numbers only for devices), magic `ustar\0` version `00` — byte-identical to the reference's tar slots; a name
 *   that fits neither ustar name nor prefix/name, or is not ASCII, goes in a pax `path` record (header name
 *   `././@PaxHeader`), as do long link names and sizes ≥ 8 GiB;
 * - the archive ends with two zero blocks and is padded with zeros to a 10,240-byte record.
 */
import { promises as fsp, constants as fsc } from 'node:fs';
import { join } from 'node:path';
import { FormatError, IoError, PolicyError, toIoError } from '../errors.ts';

/** TAR_BLOCK_BYTES is the tar block size. */
export const TAR_BLOCK_BYTES = 512;
/** TAR_RECORD_BYTES: archives are padded to whole records of 20 blocks (tar's default blocking factor). */
export const TAR_RECORD_BYTES = 10240;
/** TAR_DEFAULT_MAX_META_BYTES caps one pax or GNU long-name payload (1 MiB). */
export const TAR_DEFAULT_MAX_META_BYTES = 1024 * 1024;
/** TAR_READ_CHUNK_BYTES is the chunk size used when streaming file contents into an archive. */
export const TAR_READ_CHUNK_BYTES = 1024 * 1024;

/** TarEntryType classifies an entry by its typeflag. */
export type TarEntryType =
  | 'file'
  | 'directory'
  | 'symlink'
  | 'hardlink'
  | 'char-device'
  | 'block-device'
  | 'fifo'
  | 'unsupported';

/** TarHeader is one entry's header, after pax and GNU long-name records were applied. */
export interface TarHeader {
  path: string;
  type: TarEntryType;
  /** typeflag is the raw type character ('0', '5', '2', …; '\0' reads as '0'). */
  typeflag: string;
  /** mode includes the setuid (0o4000), setgid (0o2000) and sticky (0o1000) bits. */
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  size: number;
  mtime: number;
  linkpath: string;
  devmajor: number;
  devminor: number;
  /** format: 'ustar' (POSIX magic), 'gnu' (`ustar  \0`) or 'v7' (no magic); 'pax' when pax records applied. */
  format: 'ustar' | 'gnu' | 'v7' | 'pax';
}

/** TarEntry is yielded by {@link readTar}; consume `body()` before asking for the next entry (or it is skipped). */
export interface TarEntry {
  header: TarHeader;
  /** offset of the header block in the tar stream. */
  offset: number;
  body: () => AsyncGenerator<Uint8Array>;
}

export interface ReadTarOptions {
  /** maxMetaBytes caps each pax/GNU long-name payload (default 1 MiB). */
  maxMetaBytes?: number;
}

/** ByteSource is any stream of byte chunks (an async generator, a Node readable, or an array of chunks). */
export type ByteSource = AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

const EMPTY = new Uint8Array(0);
const utf8 = new TextDecoder('utf-8', { fatal: true });
const enc = new TextEncoder();

function bad(message: string, offset: number): never {
  throw new FormatError('ERR_PKG_ARCHIVE_FORMAT', `tar: ${message} (at byte ${offset})`, { details: { offset } });
}

/** ByteReader reads exact byte counts from an async stream of chunks, without copying when it can. */
class ByteReader {
  private readonly it: AsyncIterator<Uint8Array> | Iterator<Uint8Array>;
  private buf: Uint8Array = EMPTY;
  private off = 0;
  /** position counts bytes consumed so far. */
  position = 0;

  constructor(source: ByteSource) {
    this.it = Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : source[Symbol.iterator]();
  }

  private async fill(): Promise<boolean> {
    for (;;) {
      const r = await this.it.next();
      if (r.done) return false;
      if (r.value.length === 0) continue;
      this.buf = r.value;
      this.off = 0;
      return true;
    }
  }

  /** readExact returns n bytes, or null at a clean end of stream; a partial read is a truncation error. */
  async readExact(n: number): Promise<Uint8Array | null> {
    if (this.off === this.buf.length && !(await this.fill())) return null;
    if (this.buf.length - this.off >= n) {
      const out = this.buf.subarray(this.off, this.off + n);
      this.off += n;
      this.position += n;
      return out;
    }
    const out = new Uint8Array(n);
    let got = 0;
    while (got < n) {
      if (this.off === this.buf.length && !(await this.fill())) bad(`truncated: expected ${n} bytes, got ${got}`, this.position);
      const k = Math.min(n - got, this.buf.length - this.off);
      out.set(this.buf.subarray(this.off, this.off + k), got);
      this.off += k;
      got += k;
      this.position += k;
    }
    return out;
  }

  /** take yields views totalling exactly n bytes. */
  async *take(n: number): AsyncGenerator<Uint8Array> {
    let left = n;
    while (left > 0) {
      if (this.off === this.buf.length && !(await this.fill())) bad(`truncated: ${left} bytes of entry data missing`, this.position);
      const k = Math.min(left, this.buf.length - this.off);
      const out = this.buf.subarray(this.off, this.off + k);
      this.off += k;
      this.position += k;
      left -= k;
      yield out;
    }
  }

  async skip(n: number): Promise<void> {
    for await (const _ of this.take(n)) {
      /* discard */
    }
  }

  /** expectZerosToEnd consumes the rest of the stream, refusing any non-zero byte. */
  async expectZerosToEnd(): Promise<void> {
    for (;;) {
      if (this.off === this.buf.length && !(await this.fill())) return;
      for (let i = this.off; i < this.buf.length; i++) {
        if (this.buf[i] !== 0) bad('non-zero data after the end-of-archive marker', this.position + (i - this.off));
      }
      this.position += this.buf.length - this.off;
      this.off = this.buf.length;
    }
  }
}

function isZero(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

function cstring(b: Uint8Array, at: number, len: number, offset: number): string {
  const f = b.subarray(at, at + len);
  const nul = f.indexOf(0);
  try {
    return utf8.decode(nul < 0 ? f : f.subarray(0, nul));
  } catch {
    return bad('a name field is not valid utf-8', offset);
  }
}

/** parseNumber reads an octal field (spaces/NUL padded) or a GNU base-256 field. */
function parseNumber(b: Uint8Array, at: number, len: number, offset: number, what: string, allowNegative = false): number {
  const f = b.subarray(at, at + len);
  if ((f[0]! & 0x80) !== 0) {
    // GNU base-256: first byte 0x80 (positive) or 0xff (negative), big-endian two's complement.
    const negative = f[0] === 0xff;
    if (!negative && f[0] !== 0x80) bad(`${what}: invalid base-256 field`, offset);
    if (negative && !allowNegative) bad(`${what}: negative value`, offset);
    let v = 0n;
    for (let i = 1; i < f.length; i++) v = (v << 8n) | BigInt(negative ? 0xff - f[i]! : f[i]!);
    if (negative) v = -(v + 1n);
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) bad(`${what}: value out of range`, offset);
    return Number(v);
  }
  let i = 0;
  while (i < f.length && f[i] === 0x20) i++;
  let v = 0;
  let digits = 0;
  for (; i < f.length; i++) {
    const c = f[i]!;
    if (c < 0x30 || c > 0x37) break;
    v = v * 8 + (c - 0x30);
    digits++;
  }
  for (; i < f.length; i++) {
    if (f[i] !== 0 && f[i] !== 0x20) bad(`${what}: not an octal number`, offset);
  }
  if (digits === 0) return 0;
  if (!Number.isSafeInteger(v)) bad(`${what}: value out of range`, offset);
  return v;
}

/** headerChecksums returns the unsigned and the (historic) signed sum of a header with the chksum field as spaces. */
function headerChecksums(h: Uint8Array): [number, number] {
  let u = 0;
  let s = 0;
  for (let i = 0; i < TAR_BLOCK_BYTES; i++) {
    const c = i >= 148 && i < 156 ? 0x20 : h[i]!;
    u += c;
    s += c >= 0x80 ? c - 256 : c;
  }
  return [u, s];
}

/** parsePax parses pax records `"%d %s=%s\n"`; the length counts the whole record. */
function parsePax(data: Uint8Array, offset: number): Record<string, string> {
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  let p = 0;
  while (p < data.length) {
    let sp = p;
    while (sp < data.length && data[sp] !== 0x20) sp++;
    const lenText = String.fromCharCode(...data.subarray(p, sp));
    if (!/^[1-9][0-9]{0,9}$/.test(lenText)) bad('pax record length is not a decimal number', offset);
    const len = Number(lenText);
    if (p + len > data.length || data[p + len - 1] !== 0x0a) bad('pax record overruns its header', offset);
    let rec: string;
    try {
      rec = utf8.decode(data.subarray(sp + 1, p + len - 1));
    } catch {
      return bad('pax record is not valid utf-8', offset);
    }
    const eq = rec.indexOf('=');
    if (eq <= 0) bad('pax record has no key', offset);
    out[rec.slice(0, eq)] = rec.slice(eq + 1);
    p += len;
  }
  return out;
}

function paxInt(v: string, what: string, offset: number): number {
  if (!/^(0|[1-9][0-9]{0,15})$/.test(v) || !Number.isSafeInteger(Number(v))) bad(`pax ${what} is not a canonical integer`, offset);
  return Number(v);
}

function typeOf(flag: string): TarEntryType {
  switch (flag) {
    case '0':
    case '7': // contiguous file: a regular file everywhere that matters
      return 'file';
    case '5':
      return 'directory';
    case '2':
      return 'symlink';
    case '1':
      return 'hardlink';
    case '3':
      return 'char-device';
    case '4':
      return 'block-device';
    case '6':
      return 'fifo';
    default:
      return 'unsupported';
  }
}

async function readMeta(r: ByteReader, size: number, max: number, offset: number, what: string): Promise<Uint8Array> {
  if (size > max) bad(`${what} of ${size} bytes is over the cap of ${max}`, offset);
  const data = (await r.readExact(size)) ?? bad(`truncated ${what}`, offset);
  const copy = Uint8Array.from(data);
  await r.skip(pad(size));
  return copy;
}

function pad(n: number): number {
  return (TAR_BLOCK_BYTES - (n % TAR_BLOCK_BYTES)) % TAR_BLOCK_BYTES;
}

/**
 * readTar parses a tar stream entry by entry. Each entry's body must be consumed (or it is skipped) before the
 * next is requested. Throws ERR_PKG_ARCHIVE_FORMAT on any malformation listed in the module doc.
 */
export async function* readTar(source: ByteSource, options: ReadTarOptions = {}): AsyncGenerator<TarEntry> {
  const maxMeta = options.maxMetaBytes ?? TAR_DEFAULT_MAX_META_BYTES;
  const r = new ByteReader(source);
  let pax: Record<string, string> | undefined;
  let longName: string | undefined;
  let longLink: string | undefined;
  for (;;) {
    const offset = r.position;
    const block = await r.readExact(TAR_BLOCK_BYTES);
    if (block === null) bad('missing end-of-archive marker', offset);
    if (isZero(block)) {
      const second = await r.readExact(TAR_BLOCK_BYTES);
      if (second === null || !isZero(second)) bad('end-of-archive marker must be two zero blocks', offset);
      if (pax || longName !== undefined || longLink !== undefined) bad('extended header without an entry', offset);
      await r.expectZerosToEnd();
      return;
    }
    const stored = parseNumber(block, 148, 8, offset, 'checksum');
    const [u, s] = headerChecksums(block);
    if (stored !== u && stored !== s) bad(`header checksum mismatch: expected ${u}, got ${stored}`, offset);
    const magic = String.fromCharCode(...block.subarray(257, 265));
    const format: 'ustar' | 'gnu' | 'v7' = magic === 'ustar\x0000' ? 'ustar' : magic === 'ustar  \x00' ? 'gnu' : 'v7';
    const flagByte = block[156]!;
    const typeflag = flagByte === 0 ? '0' : String.fromCharCode(flagByte);
    const size = parseNumber(block, 124, 12, offset, 'size');

    if (typeflag === 'x' || typeflag === 'g') {
      const recs = parsePax(await readMeta(r, size, maxMeta, offset, 'pax header'), offset);
      if (Object.keys(recs).some((k) => k.startsWith('GNU.sparse'))) bad('gnu sparse files are not supported', offset);
      // Global headers ('g') carry defaults for later entries; we honour none of them (documented), but parse them.
      if (typeflag === 'x') pax = { ...(pax ?? {}), ...recs };
      continue;
    }
    if (typeflag === 'L' || typeflag === 'K') {
      const data = await readMeta(r, size, maxMeta, offset, 'gnu long name');
      const nul = data.indexOf(0);
      let text: string;
      try {
        text = utf8.decode(nul < 0 ? data : data.subarray(0, nul));
      } catch {
        return bad('gnu long name is not valid utf-8', offset);
      }
      if (typeflag === 'L') longName = text;
      else longLink = text;
      continue;
    }
    if (typeflag === 'S') bad('gnu sparse files are not supported', offset);

    let path = cstring(block, 0, 100, offset);
    if (format === 'ustar') {
      const prefix = cstring(block, 345, 155, offset);
      if (prefix !== '') path = `${prefix}/${path}`;
    }
    if (longName !== undefined) path = longName;
    let linkpath = longLink ?? cstring(block, 157, 100, offset);
    let uid = parseNumber(block, 108, 8, offset, 'uid');
    let gid = parseNumber(block, 116, 8, offset, 'gid');
    let mtime = parseNumber(block, 136, 12, offset, 'mtime', true);
    let uname = format === 'v7' ? '' : cstring(block, 265, 32, offset);
    let gname = format === 'v7' ? '' : cstring(block, 297, 32, offset);
    let realSize = size;
    let fmt: TarHeader['format'] = format;
    if (pax) {
      fmt = 'pax';
      if (pax.path !== undefined) path = pax.path;
      if (pax.linkpath !== undefined) linkpath = pax.linkpath;
      if (pax.size !== undefined) realSize = paxInt(pax.size, 'size', offset);
      if (pax.uid !== undefined) uid = paxInt(pax.uid, 'uid', offset);
      if (pax.gid !== undefined) gid = paxInt(pax.gid, 'gid', offset);
      if (pax.uname !== undefined) uname = pax.uname;
      if (pax.gname !== undefined) gname = pax.gname;
      if (pax.mtime !== undefined) {
        if (!/^-?[0-9]{1,16}(\.[0-9]{1,9})?$/.test(pax.mtime)) bad('pax mtime is not a number', offset);
        mtime = Math.trunc(Number(pax.mtime));
      }
    }
    pax = undefined;
    longName = undefined;
    longLink = undefined;
    const type = typeOf(typeflag);
    const hasData = type === 'file' || type === 'unsupported';
    if (!hasData && realSize !== 0) bad(`a ${type} entry must not carry data (size ${realSize})`, offset);
    const header: TarHeader = {
      path,
      type,
      typeflag,
      mode: parseNumber(block, 100, 8, offset, 'mode'),
      uid,
      gid,
      uname,
      gname,
      size: realSize,
      mtime,
      linkpath,
      devmajor: format === 'v7' ? 0 : parseNumber(block, 329, 8, offset, 'devmajor'),
      devminor: format === 'v7' ? 0 : parseNumber(block, 337, 8, offset, 'devminor'),
      format: fmt,
    };
    let consumed = false;
    const body = async function* (): AsyncGenerator<Uint8Array> {
      if (consumed) throw new Error('archive/tar: an entry body can be read once');
      consumed = true;
      yield* r.take(realSize);
      await r.skip(pad(realSize));
    };
    yield { header, offset, body };
    if (!consumed) {
      consumed = true;
      await r.skip(realSize + pad(realSize));
    }
  }
}

/** TarMember is a fully read entry (for small archives and tests). */
export interface TarMember {
  header: TarHeader;
  data: Uint8Array;
}

/** listTar reads a whole in-memory archive into members (bounded by the bytes given). */
export async function listTar(bytes: Uint8Array, options: ReadTarOptions = {}): Promise<TarMember[]> {
  const out: TarMember[] = [];
  for await (const e of readTar([bytes], options)) {
    const parts: Uint8Array[] = [];
    for await (const c of e.body()) parts.push(Uint8Array.from(c));
    out.push({ header: e.header, data: Buffer.concat(parts) });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Writer

/** TarEntryInput describes one entry to write. The writer does not judge names: archive/extract does. */
export interface TarEntryInput {
  path: string;
  type: Exclude<TarEntryType, 'unsupported'>;
  /** mode is written as given (default 0o644 for files, 0o755 for directories). */
  mode?: number;
  data?: Uint8Array;
  linkpath?: string;
  mtime?: number;
  uid?: number;
  gid?: number;
  uname?: string;
  gname?: string;
  devmajor?: number;
  devminor?: number;
  /** size overrides data.length in the header (tests use it to lie). */
  size?: number;
}

const TYPEFLAGS: Record<TarEntryInput['type'], string> = {
  file: '0',
  directory: '5',
  symlink: '2',
  hardlink: '1',
  'char-device': '3',
  'block-device': '4',
  fifo: '6',
};

const MAX_OCTAL_12 = 0o77777777777;

function putString(h: Uint8Array, at: number, len: number, s: string): void {
  const b = enc.encode(s);
  if (b.length > len) throw new Error(`archive/tar: field too long: ${s}`);
  h.set(b, at);
}

function putOctal(h: Uint8Array, at: number, len: number, v: number): void {
  // Python tarfile style: len-1 zero-padded octal digits then NUL.
  putString(h, at, len, v.toString(8).padStart(len - 1, '0') + '\0');
}

function isAscii(s: string): boolean {
  return /^[\x20-\x7e]*$/.test(s);
}

/** splitUstarName finds prefix/name for a path longer than 100 bytes, or undefined when it does not fit. */
function splitUstarName(path: string): [string, string] | undefined {
  if (path.length <= 100) return ['', path];
  for (let i = path.length - 1; i > 0; i--) {
    if (path[i] !== '/') continue;
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (prefix.length <= 155 && name.length <= 100 && name.length > 0) return [prefix, name];
    if (path.length - i - 1 > 100) return undefined;
  }
  return undefined;
}

function paxRecord(key: string, value: string): Uint8Array {
  const body = ` ${key}=${value}\n`;
  const bodyLen = enc.encode(body).length;
  let len = bodyLen + 1;
  while (String(len).length + bodyLen !== len) len = String(len).length + bodyLen;
  return enc.encode(`${len}${body}`);
}

function headerBlock(fields: {
  name: string;
  prefix: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname: string;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
}): Uint8Array {
  const h = new Uint8Array(TAR_BLOCK_BYTES);
  putString(h, 0, 100, fields.name);
  putOctal(h, 100, 8, fields.mode);
  putOctal(h, 108, 8, fields.uid);
  putOctal(h, 116, 8, fields.gid);
  putOctal(h, 124, 12, fields.size);
  putOctal(h, 136, 12, fields.mtime);
  h.fill(0x20, 148, 156);
  putString(h, 156, 1, fields.typeflag);
  putString(h, 157, 100, fields.linkname);
  putString(h, 257, 8, 'ustar\x0000');
  putString(h, 265, 32, fields.uname);
  putString(h, 297, 32, fields.gname);
  if (fields.typeflag === '3' || fields.typeflag === '4') {
    // Like Python's tarfile: device numbers only for device entries, NUL-filled otherwise.
    putOctal(h, 329, 8, fields.devmajor);
    putOctal(h, 337, 8, fields.devminor);
  }
  putString(h, 345, 155, fields.prefix);
  const [sum] = headerChecksums(h);
  putString(h, 148, 8, sum.toString(8).padStart(6, '0') + '\0 ');
  return h;
}

/** formatTarHeader returns the header block(s) of one entry: an optional pax header + its data, then the header. */
export function formatTarHeader(e: TarEntryInput): Uint8Array {
  const size = e.size ?? e.data?.length ?? 0;
  const mtime = e.mtime ?? 0;
  const mode = e.mode ?? (e.type === 'directory' ? 0o755 : 0o644);
  const path = e.type === 'directory' && !e.path.endsWith('/') ? `${e.path}/` : e.path;
  const linkpath = e.linkpath ?? '';
  const recs: Uint8Array[] = [];
  let name: string;
  let prefix = '';
  const split = isAscii(path) ? splitUstarName(path) : undefined;
  if (split) [prefix, name] = split;
  else {
    recs.push(paxRecord('path', path));
    name = truncateAscii(path, 100);
  }
  let linkname = linkpath;
  if (!isAscii(linkpath) || linkpath.length > 100) {
    recs.push(paxRecord('linkpath', linkpath));
    linkname = truncateAscii(linkpath, 100);
  }
  let sizeField = size;
  if (size > MAX_OCTAL_12) {
    recs.push(paxRecord('size', String(size)));
    sizeField = 0;
  }
  const main = headerBlock({
    name,
    prefix,
    mode,
    uid: e.uid ?? 0,
    gid: e.gid ?? 0,
    size: sizeField,
    mtime,
    typeflag: TYPEFLAGS[e.type],
    linkname,
    uname: e.uname ?? '',
    gname: e.gname ?? '',
    devmajor: e.devmajor ?? 0,
    devminor: e.devminor ?? 0,
  });
  if (recs.length === 0) return main;
  const paxData = Buffer.concat(recs);
  const paxHeader = headerBlock({
    name: '././@PaxHeader',
    prefix: '',
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: paxData.length,
    mtime,
    typeflag: 'x',
    linkname: '',
    uname: '',
    gname: '',
    devmajor: 0,
    devminor: 0,
  });
  return Buffer.concat([paxHeader, paxData, new Uint8Array(pad(paxData.length)), main]);
}

function truncateAscii(s: string, n: number): string {
  return s.replace(/[^\x20-\x7e]/g, '_').slice(0, n);
}

/** tarTrailer returns the end-of-archive blocks plus zero padding to a whole record after `written` bytes. */
export function tarTrailer(written: number): Uint8Array {
  const end = written + 2 * TAR_BLOCK_BYTES;
  const total = Math.ceil(end / TAR_RECORD_BYTES) * TAR_RECORD_BYTES;
  return new Uint8Array(total - written);
}

/** encodeTar writes entries exactly as given (no sorting, no checks) into one archive. */
export function encodeTar(entries: readonly TarEntryInput[]): Uint8Array {
  const parts: Uint8Array[] = [];
  let n = 0;
  for (const e of entries) {
    const h = formatTarHeader(e);
    parts.push(h);
    n += h.length;
    if (e.data && e.data.length > 0) {
      parts.push(e.data, new Uint8Array(pad(e.data.length)));
      n += e.data.length + pad(e.data.length);
    }
  }
  parts.push(tarTrailer(n));
  return Buffer.concat(parts);
}

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
