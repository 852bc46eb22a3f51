/**
 * archive/tar-write — the deterministic tar writer (`tar --sort=name --owner=0 --group=0 --numeric-owner
 * --mtime=@EPOCH` in spirit), byte-identical to the reference's tar slots (Python tarfile, PAX_FORMAT); the rules
 * are listed in archive/tar.
 *
 * Trust boundary: it writes what it is given and judges no names (archive/extract's rules are applied by callers).
 */
import { headerChecksums, pad, TAR_BLOCK_BYTES, TAR_RECORD_BYTES, type TarEntryType } from './tar-format.ts';

const enc = new TextEncoder();


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
