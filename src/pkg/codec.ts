/**
 * pkg/codec — encoding and decoding the compression layers of PSPF/2025 operation chains (FlavorPack v0.3.0):
 * GZIP (RFC 1952, Node zlib, streaming), BZIP2 (compressjs, in memory), XZ (.xz container with LZMA2,
 * @napi-rs/lzma, in memory). ZSTD is refused with ERR_PKG_OPERATION_UNSUPPORTED: Node 20's zlib has none and we
 * add no dependency for it. The three codec modules are imported on first use, so importing custody (whose root
 * entry re-exports pkg) loads no native addon.
 *
 * Trust boundary: decoders only ever see stored bytes whose SHA-256 matched the signed metadata (pkg/verify runs
 * first), but the signer itself may be hostile, so every decoder is bounded:
 * - the final decoded stream goes through a DecodeGuard (archive/extract rule 7: ratio and total size);
 * - bzip2 writes into a sink that throws past `maxBufferedSlotBytes`;
 * - xz is decoded only after walking its container and LZMA2 chunk headers, which state the exact decoded size
 *   (an LZMA2 decoder must produce exactly the unpacked size of each chunk), so an xz bomb is refused before a
 *   single byte is inflated; the decoded length is checked against that walk afterwards.
 * Corrupt streams give ERR_PKG_ARCHIVE_FORMAT.
 *
 * Known writer limitation: @napi-rs/lzma (lzma-rs) writes LZMA2 "uncompressed" chunks — valid .xz that every
 * reader accepts, but no smaller than its input. Prefer gzip for size; bzip2 compression (pure JS) is slow.
 */
import { Readable, Transform, pipeline } from 'node:stream';
import type { ZlibOptions } from 'node:zlib';
import { FormatError, LimitError, isTrustError } from '../errors.ts';
import type { DecodeGuard } from '../archive/extract.ts';
import type { ByteSource } from '../archive/tar.ts';
import { compressionLayers, type OpName } from './operations.ts';

// Codecs load on first use: `import 'custody'` must not load a native addon (@napi-rs/lzma) or the bzip2 code
// (compressjs) for a caller that never decodes a slot. Each loader keeps its promise: a dynamic import() of a module
// already loaded still goes through the loader's resolve step (under a module-loader hook, such as tsx's, that is a
// round trip to the hooks thread per call), so only the first call of each imports.
let zlibModule: Promise<typeof import('node:zlib')> | undefined;
let bzip2Module: Promise<import('compressjs').CompressionMethod> | undefined;
let xzModule: Promise<(typeof import('@napi-rs/lzma'))['xz']> | undefined;

function loadZlib(): Promise<typeof import('node:zlib')> {
  return (zlibModule ??= import('node:zlib'));
}

function loadBzip2(): Promise<import('compressjs').CompressionMethod> {
  return (bzip2Module ??= import('compressjs').then((m) => m.default.Bzip2));
}

function loadXz(): Promise<(typeof import('@napi-rs/lzma'))['xz']> {
  return (xzModule ??= import('@napi-rs/lzma').then((m) => m.xz));
}

/** GZIP_LEVEL for slots: 6, gzip's default (what `tar -czf` uses), for speed parity. */
export const GZIP_LEVEL = 6;
/** BZIP2_BLOCK_SIZE: 900 kB blocks (bzip2 -9, the reference's default). */
export const BZIP2_BLOCK_SIZE = 9;

const OUT_CHUNK = 64 * 1024;
/** DECODE_READAHEAD_BYTES: decoded bytes a gzip layer may buffer ahead of the consumer (4 MiB). */
const DECODE_READAHEAD_BYTES = 4 * 1024 * 1024;

/** MAGIC gives the first bytes each compression layer must start with (content sniffing). */
export const MAGIC: Readonly<Record<Exclude<OpName, 'TAR'>, readonly number[]>> = {
  GZIP: [0x1f, 0x8b, 0x08],
  BZIP2: [0x42, 0x5a, 0x68], // "BZh", then the block size digit '1'‥'9'
  XZ: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00],
  ZSTD: [0x28, 0xb5, 0x2f, 0xfd],
};

/** sniffMatches says whether `head` (the first bytes of stored data) starts like the outermost layer of chain. */
export function sniffMatches(head: Uint8Array, chain: readonly OpName[]): boolean {
  const layers = compressionLayers(chain);
  const outer = layers[layers.length - 1];
  if (outer === undefined) {
    // No compression: a tar slot must start with a valid ustar/gnu header (checked by the tar reader when decoded);
    // here we check the magic, which every POSIX and GNU writer sets.
    if (chain[0] !== 'TAR') return true;
    if (head.length < 263) return false;
    const magic = String.fromCharCode(...head.subarray(257, 263));
    return magic === 'ustar\0' || magic === 'ustar ';
  }
  const m = MAGIC[outer as Exclude<OpName, 'TAR'>];
  if (head.length < m.length) return false;
  if (!m.every((b, i) => head[i] === b)) return false;
  if (outer === 'BZIP2') return head.length > 3 && head[3]! >= 0x31 && head[3]! <= 0x39;
  return true;
}

function corrupt(what: string, e: unknown): never {
  if (isTrustError(e)) throw e;
  throw new FormatError('ERR_PKG_ARCHIVE_FORMAT', `${what}: corrupt compressed data (${(e as Error)?.message ?? String(e)})`, { cause: e });
}

function unsupported(op: OpName): never {
  throw new FormatError('ERR_PKG_OPERATION_UNSUPPORTED', `${op.toLowerCase()} is not supported: Node 20 has no zstd and custody adds no dependency for it`);
}

async function collect(source: ByteSource, cap: number, what: string): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let n = 0;
  for await (const c of source) {
    n += c.length;
    if (n > cap) {
      throw new LimitError('ERR_PKG_SIZE_LIMIT', `${what}: more than ${cap} bytes must be held in memory for bzip2/xz`, { details: { cap } });
    }
    parts.push(c);
  }
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}

function* chunks(bytes: Uint8Array): Generator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += OUT_CHUNK) yield bytes.subarray(i, Math.min(bytes.length, i + OUT_CHUNK));
}

/** viaTransform pipes an async byte stream through a Node transform stream, propagating errors both ways. */
async function* viaTransform(source: ByteSource, t: Transform, what: string): AsyncGenerator<Uint8Array> {
  const src = Readable.from(source, { objectMode: false });
  const out = pipeline(src, t, () => undefined);
  try {
    for await (const c of out as AsyncIterable<Uint8Array>) yield c;
  } catch (e) {
    corrupt(what, e);
  } finally {
    src.destroy();
    t.destroy();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// xz container walk (tukaani.org/xz/xz-file-format.txt §2–3) and LZMA2 chunk headers

const XZ_CHECK_SIZES = [0, 4, 4, 4, 8, 8, 8, 16, 16, 16, 32, 32, 32, 64, 64, 64];
/** XZ_DECODABLE_CHECKS: what @napi-rs/lzma (lzma-rs) verifies — none (0), CRC32 (1), CRC64 (4); not SHA-256. */
const XZ_DECODABLE_CHECKS = new Set([0, 1, 4]);
/** XZ_LZMA2 is the only filter lzma-rs decodes (no delta, no BCJ). */
const XZ_LZMA2 = 0x21;

/**
 * xzDecodedSize walks an .xz file's streams, block headers and LZMA2 chunk headers without decompressing and
 * returns the exact decoded size. Throws ERR_PKG_ARCHIVE_FORMAT for a malformed container and
 * ERR_PKG_OPERATION_UNSUPPORTED for what @napi-rs/lzma cannot decode: filters other than one LZMA2 (delta, BCJ)
 * and SHA-256 checks.
 */
export function xzDecodedSize(b: Uint8Array): number {
  const bad = (m: string, at: number): never => {
    throw new FormatError('ERR_PKG_ARCHIVE_FORMAT', `xz: ${m} (at byte ${at})`, { details: { offset: at } });
  };
  const byte = (at: number): number => (at < b.length ? b[at]! : bad('truncated', at));
  let p = 0;
  const vli = (): number => {
    let v = 0;
    for (let i = 0; i < 9; i++) {
      const c = byte(p++);
      v += (c & 0x7f) * 2 ** (7 * i);
      if ((c & 0x80) === 0) {
        if (i > 0 && c === 0) bad('non-minimal integer', p - 1);
        if (!Number.isSafeInteger(v)) bad('integer out of range', p - 1);
        return v;
      }
    }
    return bad('integer too long', p);
  };
  let total = 0;
  let streams = 0;
  while (p < b.length) {
    // Stream padding between streams: zero bytes in multiples of 4.
    if (streams > 0 && b[p] === 0) {
      const start = p;
      while (p < b.length && b[p] === 0) p++;
      if ((p - start) % 4 !== 0) bad('stream padding is not a multiple of 4', start);
      if (p === b.length) break;
    }
    const streamStart = p;
    for (let i = 0; i < 6; i++) if (byte(p + i) !== MAGIC.XZ[i]) bad('not an xz stream', p);
    if (byte(p + 6) !== 0 || (byte(p + 7) & 0xf0) !== 0) bad('unsupported stream flags', p + 6);
    const checkType = byte(p + 7) & 0x0f;
    if (!XZ_DECODABLE_CHECKS.has(checkType)) {
      throw new FormatError('ERR_PKG_OPERATION_UNSUPPORTED', `xz: check type ${checkType} is not supported (none, CRC32 or CRC64 only)`);
    }
    const checkSize = XZ_CHECK_SIZES[checkType]!;
    p += 12;
    const blockSizes: number[] = [];
    for (;;) {
      const hb = byte(p);
      if (hb === 0) break; // index indicator
      const blockStart = p;
      const headerSize = (hb + 1) * 4;
      const flags = byte(p + 1);
      if ((flags & 0x3c) !== 0) bad('reserved block flags set', p + 1);
      p += 2;
      let declaredUncompressed: number | undefined;
      if (flags & 0x40) vli();
      if (flags & 0x80) declaredUncompressed = vli();
      const nFilters = (flags & 0x03) + 1;
      for (let f = 0; f < nFilters; f++) {
        const id = vli();
        const propsSize = vli();
        p += propsSize;
        if (nFilters !== 1 || id !== XZ_LZMA2) {
          throw new FormatError('ERR_PKG_OPERATION_UNSUPPORTED', `xz: filter 0x${id.toString(16)} is not supported (a single LZMA2 filter only)`);
        }
      }
      if (p > blockStart + headerSize - 4) bad('block header overflow', p);
      p = blockStart + headerSize;
      // LZMA2 chunks.
      let sum = 0;
      for (;;) {
        const c = byte(p++);
        if (c === 0x00) break;
        if (c === 0x01 || c === 0x02) {
          const size = ((byte(p) << 8) | byte(p + 1)) + 1;
          p += 2 + size;
          sum += size;
        } else if (c >= 0x80) {
          const unpacked = (c & 0x1f) * 65536 + ((byte(p) << 8) | byte(p + 1)) + 1;
          const packed = ((byte(p + 2) << 8) | byte(p + 3)) + 1;
          p += 4 + (((c >> 5) & 3) >= 2 ? 1 : 0) + packed;
          sum += unpacked;
        } else {
          bad(`invalid lzma2 control byte 0x${c.toString(16)}`, p - 1);
        }
        if (p > b.length) bad('truncated lzma2 chunk', p);
      }
      if (declaredUncompressed !== undefined && declaredUncompressed !== sum) bad('block header size disagrees with its chunks', blockStart);
      while ((p - streamStart) % 4 !== 0) if (byte(p++) !== 0) bad('non-zero block padding', p - 1);
      p += checkSize;
      blockSizes.push(sum);
      total += sum;
    }
    // Index: indicator, record count, records (unpadded size, uncompressed size), padding, CRC32.
    p++;
    const records = vli();
    if (records !== blockSizes.length) bad(`index lists ${records} blocks, the stream has ${blockSizes.length}`, p);
    for (let i = 0; i < records; i++) {
      vli();
      if (vli() !== blockSizes[i]) bad('index size disagrees with the block', p);
    }
    while ((p - streamStart) % 4 !== 0) if (byte(p++) !== 0) bad('non-zero index padding', p - 1);
    p += 4 + 12; // index CRC32 + stream footer
    if (p > b.length) bad('truncated stream footer', b.length);
    if (b[p - 2] !== 0x59 || b[p - 1] !== 0x5a) bad('missing stream footer magic', p - 2);
    streams++;
  }
  if (streams === 0) bad('empty input', 0);
  return total;
}

// ---------------------------------------------------------------------------------------------------------------
// Decoding

export interface DecodeOptions {
  /** guard counts the final decoded bytes (ratio and total size). */
  guard: DecodeGuard;
  /** maxBufferedBytes caps bzip2/xz input and output held in memory. */
  maxBufferedBytes: number;
  what: string;
}

/**
 * decodeBzip2 decodes in memory into a sink that stops at `cap` bytes; `overCap` throws the error that applies
 * (the guard's ratio/size error when this is the final layer, else the in-memory cap).
 */
function decodeBzip2(bzip2: Awaited<ReturnType<typeof loadBzip2>>, input: Uint8Array, cap: number, overCap: (n: number) => never, what: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  let cur = new Uint8Array(OUT_CHUNK);
  let pos = 0;
  let total = 0;
  const sink = {
    writeByte(byte: number): void {
      if (pos === cur.length) {
        out.push(cur);
        cur = new Uint8Array(OUT_CHUNK);
        pos = 0;
      }
      cur[pos++] = byte;
      if (++total > cap) overCap(total);
    },
  };
  try {
    bzip2.decompressFile(input, sink, true);
  } catch (e) {
    corrupt(`${what} (bzip2)`, e);
  }
  out.push(cur.subarray(0, pos));
  return out;
}

async function* decodeLayer(source: ByteSource, op: OpName, final: boolean, o: DecodeOptions): AsyncGenerator<Uint8Array> {
  switch (op) {
    case 'GZIP': {
      // A deep readable buffer lets inflation run ahead on the thread pool while entries are written.
      // (zlib streams pass Transform options through; @types/node's ZlibOptions does not list them.)
      const gunzip = (await loadZlib()).createGunzip({ chunkSize: OUT_CHUNK, readableHighWaterMark: DECODE_READAHEAD_BYTES } as ZlibOptions);
      yield* viaTransform(source, gunzip, `${o.what} (gzip)`);
      return;
    }
    case 'BZIP2': {
      const input = await collect(source, o.maxBufferedBytes, o.what);
      // A bzip2 bomb reaches ratios over 100,000:1; stop at what the guard would allow, not at the memory cap.
      const cap = final ? Math.min(o.maxBufferedBytes, o.guard.allowance()) : o.maxBufferedBytes;
      const overCap = (n: number): never => {
        if (final) o.guard.check(n);
        throw new LimitError('ERR_PKG_SIZE_LIMIT', `${o.what}: bzip2 output exceeds the in-memory cap of ${o.maxBufferedBytes} bytes`, {
          details: { cap: o.maxBufferedBytes },
        });
      };
      for (const c of decodeBzip2(await loadBzip2(), input, cap, overCap, o.what)) yield c;
      return;
    }
    case 'XZ': {
      const input = await collect(source, o.maxBufferedBytes, o.what);
      const size = xzDecodedSize(input);
      // The walk states the exact output size: refuse a bomb before inflating it.
      if (final) o.guard.check(size);
      if (size > o.maxBufferedBytes) {
        throw new LimitError('ERR_PKG_SIZE_LIMIT', `${o.what}: xz data decodes to ${size} bytes, over the in-memory cap of ${o.maxBufferedBytes}`, {
          details: { cap: o.maxBufferedBytes, size },
        });
      }
      let out: Uint8Array;
      try {
        out = await (await loadXz()).decompress(input);
      } catch (e) {
        return corrupt(`${o.what} (xz)`, e);
      }
      if (out.length !== size) corrupt(`${o.what} (xz)`, new Error(`decoded ${out.length} bytes, chunk headers say ${size}`));
      yield* chunks(out);
      return;
    }
    case 'ZSTD':
      return unsupported(op);
    case 'TAR':
      throw new Error('pkg/codec: TAR is not a compression layer');
  }
}

/**
 * decodeStream undoes the compression layers of chain (outermost first) over the stored bytes and yields the
 * decoded bytes (a tar stream when the chain starts with TAR), counted by `guard`.
 */
export async function* decodeStream(stored: ByteSource, chain: readonly OpName[], o: DecodeOptions): AsyncGenerator<Uint8Array> {
  const layers = compressionLayers(chain);
  for (const op of layers) if (op === 'ZSTD') unsupported(op);
  let s: ByteSource = stored;
  for (let i = layers.length - 1; i >= 0; i--) s = decodeLayer(s, layers[i]!, i === 0, o);
  for await (const c of s) {
    o.guard.add(c.length);
    yield c;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Encoding

async function* encodeLayer(source: ByteSource, op: OpName, maxBufferedBytes: number, what: string): AsyncGenerator<Uint8Array> {
  switch (op) {
    case 'GZIP':
      // Node's gzip header carries mtime 0 and OS 3: deterministic.
      yield* viaTransform(source, (await loadZlib()).createGzip({ level: GZIP_LEVEL, chunkSize: OUT_CHUNK }), `${what} (gzip)`);
      return;
    case 'BZIP2': {
      const input = await collect(source, maxBufferedBytes, what);
      const out = (await loadBzip2()).compressFile(input, undefined, BZIP2_BLOCK_SIZE);
      yield* chunks(out instanceof Uint8Array ? out : Uint8Array.from(out));
      return;
    }
    case 'XZ': {
      const input = await collect(source, maxBufferedBytes, what);
      yield* chunks(await (await loadXz()).compress(input));
      return;
    }
    case 'ZSTD':
      return unsupported(op);
    case 'TAR':
      throw new Error('pkg/codec: TAR is not a compression layer');
  }
}

/** encodeStream applies the compression layers of chain (innermost first) to the input bytes. */
export function encodeStream(input: ByteSource, chain: readonly OpName[], maxBufferedBytes: number, what: string): ByteSource {
  const layers = compressionLayers(chain);
  for (const op of layers) if (op === 'ZSTD') unsupported(op);
  let s: ByteSource = input;
  for (const op of layers) s = encodeLayer(s, op, maxBufferedBytes, what);
  return s;
}
