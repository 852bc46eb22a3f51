/**
 * archive/tar-read — the streaming tar reader: POSIX ustar with pax extended headers, GNU long names (`L`/`K`)
 * and base-256 numbers (what `tar -czf` on Linux writes).
 *
 * Trust boundary: it parses attacker-controlled bytes and never touches the file system. It refuses, with
 * ERR_PKG_ARCHIVE_FORMAT: a bad header checksum, numeric fields that are not octal/base-256, negative or unsafe
 * sizes, data after a non-file entry, truncation, a missing end-of-archive marker, non-zero bytes after it, pax
 * records that are malformed or over `maxMetaBytes`, GNU sparse files, and names that are not UTF-8. It does NOT
 * judge paths, types or modes: that is archive/extract's job.
 */
import { FormatError } from '../errors.ts';
import {
  headerChecksums,
  pad,
  TAR_BLOCK_BYTES,
  TAR_DEFAULT_MAX_META_BYTES,
  type ByteSource,
  type ReadTarOptions,
  type TarEntry,
  type TarEntryType,
  type TarHeader,
} from './tar-format.ts';

const EMPTY = new Uint8Array(0);
const utf8 = new TextDecoder('utf-8', { fatal: true });

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
