/**
 * test/support/zip — builds small ZIP archives (PKWARE APPNOTE 6.3.10 §4.3) for tests, including hostile ones: each
 * field the reader checks can be overridden, so one test row is one lie.
 */
import { crc32, deflateRawSync } from 'node:zlib';

export interface TestZipEntry {
  name: string;
  data?: Uint8Array | string;
  /** method 0 (stored) or 8 (deflate, the default); any number is written as given. */
  method?: number;
  /** size overrides the declared uncompressed size (central and local). */
  size?: number;
  /** crc overrides the declared CRC-32. */
  crc?: number;
  flags?: number;
  /** extra is the extra field (central and local). */
  extra?: Uint8Array;
  /** localName overrides the name in the local header only. */
  localName?: string;
  /** localOffset overrides where the central record says the local header is. */
  localOffset?: number;
}

export interface TestZipOptions {
  /** zip64Locator inserts a zip64 end of central directory locator before the EOCD. */
  zip64Locator?: boolean;
  /** count overrides the EOCD entry counts. */
  count?: number;
  /** shareData makes every entry's central record point at the first entry's local header (overlap bomb). */
  shareData?: boolean;
}

export function buildZip(entries: readonly TestZipEntry[], opts: TestZipOptions = {}): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  let firstOffset = 0;
  for (const [i, e] of entries.entries()) {
    const raw = typeof e.data === 'string' ? Buffer.from(e.data) : Buffer.from(e.data ?? new Uint8Array(0));
    const method = e.method ?? 8;
    const stored = method === 8 ? deflateRawSync(raw) : raw;
    const name = Buffer.from(e.name);
    const lname = Buffer.from(e.localName ?? e.name);
    const extra = Buffer.from(e.extra ?? new Uint8Array(0));
    const size = e.size ?? raw.length;
    const crc = e.crc ?? crc32(raw) >>> 0;
    const flags = e.flags ?? 0x0800;
    const lh = Buffer.alloc(30);
    lh.writeUInt32LE(0x04034b50, 0);
    lh.writeUInt16LE(20, 4);
    lh.writeUInt16LE(flags, 6);
    lh.writeUInt16LE(method, 8);
    lh.writeUInt32LE(crc, 14);
    lh.writeUInt32LE(stored.length, 18);
    lh.writeUInt32LE(size >>> 0, 22);
    lh.writeUInt16LE(lname.length, 26);
    lh.writeUInt16LE(extra.length, 28);
    const local = Buffer.concat([lh, lname, extra, stored]);
    const at = opts.shareData && i > 0 ? firstOffset : offset;
    if (i === 0) firstOffset = offset;
    if (!(opts.shareData && i > 0)) {
      locals.push(local);
      offset += local.length;
    }
    const ch = Buffer.alloc(46);
    ch.writeUInt32LE(0x02014b50, 0);
    ch.writeUInt16LE(20, 4);
    ch.writeUInt16LE(20, 6);
    ch.writeUInt16LE(flags, 8);
    ch.writeUInt16LE(method, 10);
    ch.writeUInt32LE(crc, 16);
    ch.writeUInt32LE(stored.length, 20);
    ch.writeUInt32LE(size >>> 0, 24);
    ch.writeUInt16LE(name.length, 28);
    ch.writeUInt16LE(extra.length, 30);
    ch.writeUInt32LE(e.localOffset ?? at, 42);
    centrals.push(Buffer.concat([ch, name, extra]));
  }
  const cd = Buffer.concat(centrals);
  const parts = [...locals, cd];
  if (opts.zip64Locator) {
    const loc = Buffer.alloc(20);
    loc.writeUInt32LE(0x07064b50, 0);
    parts.push(loc);
  }
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  const count = opts.count ?? entries.length;
  eocd.writeUInt16LE(count, 8);
  eocd.writeUInt16LE(count, 10);
  eocd.writeUInt32LE(cd.length, 12);
  eocd.writeUInt32LE(offset, 16);
  parts.push(eocd);
  return Buffer.concat(parts);
}
