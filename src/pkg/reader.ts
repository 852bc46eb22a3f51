/**
 * pkg/reader — opens a PSPF/2025 package (FlavorPack v0.3.0 layout: provide-io/flavorpack@377d24d, docs/reference/spec/pspf-2025.md; docs/packages.md)
 * and parses it once into the typed model of pkg/pspf.types, performing the QUICK verification on the way:
 *
 * 1. size ≥ 8,200 bytes, end magic at EOF-4, start magic at EOF-8200 (ERR_PKG_TRUNCATED, ERR_PKG_MAGIC);
 * 2. index Adler-32 over the 8,192 bytes with the field zeroed; a ZERO checksum is wrong, not "off"
 *    (ERR_PKG_INDEX_CHECKSUM); format_version 0x20250001 (ERR_PKG_VERSION_UNSUPPORTED);
 * 3. package_size = file size; every offset/size range-checked against the file before use; slot table size =
 *    count × 64; no two regions (launcher, metadata, slot table, slots) overlap (ERR_PKG_LAYOUT,
 *    ERR_PKG_SLOT_OVERLAP); caps on slot count and metadata size (ERR_PKG_SLOT_LIMIT, ERR_PKG_METADATA_LIMIT);
 * 4. SHA-256 of the compressed metadata = index.metadata_checksum (ERR_PKG_METADATA_CHECKSUM); gunzip under a cap;
 * 5. Ed25519 (crypto/ed25519's RFC 8032 rule) over the exact decompressed bytes with the index's public key; an
 *    all-zero key or signature is "unsigned" (ERR_PKG_UNSIGNED), non-zero signature padding or a bad signature is
 *    ERR_PKG_SIGNATURE_INVALID;
 * 6. the signed metadata must agree with the unsigned slot table: same count and order, same operation chain
 *    (ERR_PKG_OPERATIONS_MISMATCH), same purpose/lifecycle/permissions where the metadata names a known value,
 *    descriptor id = index (ERR_PKG_DESCRIPTOR_MISMATCH), decoded size = signed size for non-tar slots and launcher
 *    size = signed launcher size (ERR_PKG_SIZE_MISMATCH).
 *
 * Trust boundary: nothing read here is trusted before step 5, and even then only the metadata is: slot and
 * launcher bytes are checked by pkg/verify (deep). All reads go through one open descriptor, so the file cannot be
 * swapped by path between the checks and later reads; content changed in place is caught by the digests.
 */
import type { promises as fsp } from 'node:fs';
import { PublicKey, sha256, verifyEd25519, constantTimeEqual } from '../crypto/index.ts';
import { FormatError, IoError, LimitError, VerificationError } from '../errors.ts';
import { openRegularFile } from '../io/files.ts';
import { hashOpenFile } from '../io/hash-file.ts';
import { lifecycleCode, parseDescriptor, purposeCode, SLOT_DESCRIPTOR_BYTES } from './descriptor.ts';
import { resolvePackageLimits, IO_CHUNK_BYTES, type PackageLimits } from './limits.ts';
import { decompressMetadata, parseMetadata } from './metadata.ts';
import { formatOperations, isTarChain, unpackOperations } from './operations.ts';
import type { PackageSlot, PspfPackage } from './pspf.types.ts';
import {
  computeIndexChecksum,
  parseIndex,
  PSPF_END_MAGIC,
  PSPF_FORMAT_VERSION,
  PSPF_INDEX_BYTES,
  PSPF_START_MAGIC,
  PSPF_TRAILER_BYTES,
} from './trailer.ts';

export interface OpenPackageOptions {
  limits?: Partial<PackageLimits>;
}

/** Region is a byte range of the file that belongs to one part of the package. */
export interface Region {
  what: string;
  start: number;
  end: number;
  slot?: number;
}

/**
 * PackageReader holds the open file and the parsed, signature-verified model. Close it when done.
 */
export class PackageReader {
  readonly model: PspfPackage;
  readonly limits: PackageLimits;
  private readonly fh: fsp.FileHandle;

  constructor(fh: fsp.FileHandle, model: PspfPackage, limits: PackageLimits) {
    this.fh = fh;
    this.model = model;
    this.limits = limits;
  }

  /**
   * sha256 hashes the whole file through this reader's own descriptor (lowercase hex): the digest of the very bytes
   * verification and extraction read, whatever the path names now.
   */
  async sha256(): Promise<string> {
    const { size } = await this.fh.stat();
    return (await hashOpenFile(this.fh, size, ['sha256'], this.model.path)).sha256;
  }

  /** read returns exactly length bytes at offset (inside the file size checked at open). */
  async read(offset: number, length: number): Promise<Uint8Array> {
    return readAt(this.fh, offset, length, this.model.path);
  }

  /**
   * stream yields the bytes of [offset, offset+length) in chunks of at most IO_CHUNK_BYTES, reading the next chunk
   * on the thread pool while the consumer (hashing, decoding) works on the current one.
   */
  async *stream(offset: number, length: number): AsyncGenerator<Uint8Array> {
    const end = offset + length;
    let pos = offset;
    const next = (): Promise<Uint8Array> | undefined => {
      if (pos >= end) return undefined;
      const n = Math.min(IO_CHUNK_BYTES, end - pos);
      const p = this.read(pos, n);
      pos += n;
      // Observed below; this handler only keeps an abandoned read-ahead from becoming an unhandled rejection.
      p.catch(() => undefined);
      return p;
    };
    let pending = next();
    while (pending) {
      const chunk = await pending;
      pending = next();
      yield chunk;
    }
  }

  /** regions lists every part of the package in file order (launcher, metadata, slot table, slots). */
  regions(): Region[] {
    const m = this.model;
    const r: Region[] = [
      { what: 'launcher', start: 0, end: m.launcherSize },
      { what: 'metadata', start: m.metadataOffset, end: m.metadataOffset + m.metadataSize },
      { what: 'slot table', start: m.slotTableOffset, end: m.slotTableOffset + m.slots.length * SLOT_DESCRIPTOR_BYTES },
      ...m.slots.map((s) => ({ what: `slot ${s.index} (${s.meta.id})`, start: s.offset, end: s.offset + s.storedSize, slot: s.index })),
    ];
    return r.filter((x) => x.end > x.start).sort((a, b) => a.start - b.start || a.end - b.end);
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

async function readAt(fh: fsp.FileHandle, offset: number, length: number, path: string): Promise<Uint8Array> {
  // Every byte is overwritten below (or the read fails), so the buffer need not be zeroed first.
  const buf = Buffer.allocUnsafe(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(buf, got, length - got, offset + got);
    if (bytesRead === 0) throw new IoError('ERR_IO_READ_FAILED', `${path} shrank while it was read`);
    got += bytesRead;
  }
  return buf;
}

function layout(message: string, details?: Record<string, unknown>): never {
  throw new FormatError('ERR_PKG_LAYOUT', message, details ? { details } : {});
}

/** toOffset converts a u64 field to a number that fits inside the file, or refuses. */
function toOffset(v: bigint, what: string, max: number): number {
  if (v > BigInt(max)) layout(`${what} is ${v}, beyond the ${max} bytes available`, { field: what });
  return Number(v);
}

function isAllZero(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

/** hex renders bytes as lowercase hex. */
function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

/**
 * openPackage opens and parses path, performing the quick verification listed in the module doc. The returned
 * reader's model carries signature-verified metadata; whether the signer is trusted is decided by pkg/verify.
 *
 * @example
 * const r = await openPackage('app.psp');
 * try { console.log(r.model.metadata.name, r.model.slots.length); } finally { await r.close(); }
 */
export async function openPackage(path: string, options: OpenPackageOptions = {}): Promise<PackageReader> {
  const limits = resolvePackageLimits(options.limits);
  // A symlink named by the user is followed once; every later read uses this descriptor.
  const { fh, size } = await openRegularFile(path, true);
  try {
    const model = await parsePackage(fh, size, path, limits);
    return new PackageReader(fh, model, limits);
  } catch (e) {
    await fh.close();
    throw e;
  }
}

/** readPackage opens, parses (quick verification) and closes: the model alone. */
export async function readPackage(path: string, options: OpenPackageOptions = {}): Promise<PspfPackage> {
  const r = await openPackage(path, options);
  await r.close();
  return r.model;
}

export { isPspfFile } from './sniff.ts';

async function parsePackage(fh: fsp.FileHandle, fileSize: number, path: string, limits: PackageLimits): Promise<PspfPackage> {
  // 1. Trailer.
  if (fileSize < PSPF_TRAILER_BYTES) {
    throw new FormatError('ERR_PKG_TRUNCATED', `expected at least ${PSPF_TRAILER_BYTES} bytes for a PSPF/2025 trailer, got ${fileSize}`);
  }
  const trailerStart = fileSize - PSPF_TRAILER_BYTES;
  const trailer = await readAt(fh, trailerStart, PSPF_TRAILER_BYTES, path);
  if (!PSPF_END_MAGIC.every((b, i) => trailer[PSPF_TRAILER_BYTES - 4 + i] === b)) {
    throw new FormatError('ERR_PKG_MAGIC', `expected the PSPF/2025 end magic f09faa84 at EOF-4, got ${hex(trailer.subarray(PSPF_TRAILER_BYTES - 4))}`);
  }
  if (!PSPF_START_MAGIC.every((b, i) => trailer[i] === b)) {
    throw new FormatError('ERR_PKG_MAGIC', `expected the PSPF/2025 start magic f09f93a6 at EOF-8200, got ${hex(trailer.subarray(0, 4))}`);
  }
  // 2. Index checksum and version.
  const indexBytes = trailer.subarray(4, 4 + PSPF_INDEX_BYTES);
  const index = parseIndex(indexBytes);
  const computed = computeIndexChecksum(indexBytes);
  if (index.indexChecksum === 0) {
    // The reference treats 0 as "checksum disabled"; that lets anyone edit the index freely. Zero is wrong.
    throw new VerificationError('ERR_PKG_INDEX_CHECKSUM', `index checksum is zero; expected adler-32 0x${computed.toString(16).padStart(8, '0')} (zero does not mean "off")`);
  }
  if (index.indexChecksum !== computed) {
    throw new VerificationError(
      'ERR_PKG_INDEX_CHECKSUM',
      `index checksum mismatch: expected 0x${computed.toString(16).padStart(8, '0')}, got 0x${index.indexChecksum.toString(16).padStart(8, '0')}`,
    );
  }
  if (index.formatVersion !== PSPF_FORMAT_VERSION) {
    throw new FormatError('ERR_PKG_VERSION_UNSUPPORTED', `expected format_version 0x20250001, got 0x${index.formatVersion.toString(16)}`);
  }
  // 3. Layout.
  if (index.packageSize !== BigInt(fileSize)) {
    if (index.packageSize > BigInt(fileSize)) {
      throw new FormatError('ERR_PKG_TRUNCATED', `index says the package is ${index.packageSize} bytes, the file has ${fileSize}`);
    }
    layout(`index says the package is ${index.packageSize} bytes, the file has ${fileSize}`);
  }
  const launcherSize = toOffset(index.launcherSize, 'launcher_size', trailerStart);
  const metadataOffset = toOffset(index.metadataOffset, 'metadata_offset', trailerStart);
  const metadataSize = toOffset(index.metadataSize, 'metadata_size', trailerStart - metadataOffset);
  const slotTableOffset = toOffset(index.slotTableOffset, 'slot_table_offset', trailerStart);
  if (index.slotCount > limits.maxSlots) {
    throw new LimitError('ERR_PKG_SLOT_LIMIT', `package has ${index.slotCount} slots, over the cap of ${limits.maxSlots}`, {
      details: { slots: index.slotCount, cap: limits.maxSlots },
    });
  }
  if (index.slotTableSize !== BigInt(index.slotCount * SLOT_DESCRIPTOR_BYTES)) {
    layout(`slot table is ${index.slotTableSize} bytes, expected ${index.slotCount} × 64`);
  }
  const slotTableSize = toOffset(index.slotTableSize, 'slot_table_size', trailerStart - slotTableOffset);
  if (metadataSize > limits.maxMetadataBytes) {
    throw new LimitError('ERR_PKG_METADATA_LIMIT', `metadata is ${metadataSize} bytes, over the cap of ${limits.maxMetadataBytes}`, {
      details: { size: metadataSize, cap: limits.maxMetadataBytes },
    });
  }
  if (metadataSize === 0) layout('metadata_size is 0');
  const table = slotTableSize === 0 ? new Uint8Array(0) : await readAt(fh, slotTableOffset, slotTableSize, path);
  const descriptors = [];
  for (let i = 0; i < index.slotCount; i++) {
    const d = parseDescriptor(table.subarray(i * SLOT_DESCRIPTOR_BYTES, (i + 1) * SLOT_DESCRIPTOR_BYTES));
    if (d.id !== BigInt(i)) {
      throw new VerificationError('ERR_PKG_DESCRIPTOR_MISMATCH', `slot descriptor ${i} carries id ${d.id}`);
    }
    const offset = toOffset(d.offset, `slot ${i} offset`, trailerStart);
    const storedSize = toOffset(d.size, `slot ${i} size`, trailerStart - offset);
    if (d.originalSize > BigInt(Number.MAX_SAFE_INTEGER)) layout(`slot ${i} original_size ${d.originalSize} is out of range`);
    descriptors.push({ d, offset, storedSize, originalSize: Number(d.originalSize), chain: unpackOperations(d.operations, `slot ${i} operations`) });
  }
  const regions: Region[] = [
    { what: 'launcher', start: 0, end: launcherSize },
    { what: 'metadata', start: metadataOffset, end: metadataOffset + metadataSize },
    { what: 'slot table', start: slotTableOffset, end: slotTableOffset + slotTableSize },
    ...descriptors.map((x, i) => ({ what: `slot ${i}`, start: x.offset, end: x.offset + x.storedSize, slot: i })),
  ]
    .filter((r) => r.end > r.start)
    .sort((a, b) => a.start - b.start);
  for (let i = 1; i < regions.length; i++) {
    const a = regions[i - 1]!;
    const b = regions[i]!;
    if (b.start < a.end) {
      const msg = `${a.what} [${a.start}, ${a.end}) overlaps ${b.what} [${b.start}, ${b.end})`;
      if (a.slot !== undefined || b.slot !== undefined) {
        throw new FormatError('ERR_PKG_SLOT_OVERLAP', msg, { details: { a: a.what, b: b.what } });
      }
      layout(msg);
    }
  }
  // 4. Metadata checksum, bounded decompression.
  const metadataCompressed = await readAt(fh, metadataOffset, metadataSize, path);
  if (!constantTimeEqual(sha256(metadataCompressed), index.metadataChecksum)) {
    throw new VerificationError(
      'ERR_PKG_METADATA_CHECKSUM',
      `metadata sha-256 mismatch: index says ${hex(index.metadataChecksum)}, bytes hash to ${hex(sha256(metadataCompressed))}`,
    );
  }
  const metadataJson = decompressMetadata(metadataCompressed, limits.maxMetadataJsonBytes);
  // 5. Signature over the exact decompressed bytes.
  const signature = index.signatureField.subarray(0, 64);
  if (isAllZero(index.publicKey) || isAllZero(signature)) {
    throw new VerificationError('ERR_PKG_UNSIGNED', 'the package carries no integrity seal (all-zero public key or signature)');
  }
  if (!isAllZero(index.signatureField.subarray(64))) {
    throw new VerificationError('ERR_PKG_SIGNATURE_INVALID', 'bytes 64‥511 of the signature field must be zero');
  }
  let signer: PublicKey;
  try {
    signer = PublicKey.fromRaw(index.publicKey);
  } catch (e) {
    throw new VerificationError('ERR_PKG_SIGNATURE_INVALID', 'the embedded public key is not an ed25519 point', { cause: e });
  }
  if (!verifyEd25519(signer, metadataJson, signature)) {
    throw new VerificationError('ERR_PKG_SIGNATURE_INVALID', `the metadata signature does not verify under the embedded key ${signer.hex}`, {
      details: { publicKey: signer.hex },
    });
  }
  // 6. Signed metadata against the unsigned table.
  const metadata = parseMetadata(metadataJson, limits.maxMetadataJsonBytes);
  if (metadata.slots.length !== index.slotCount) {
    throw new VerificationError('ERR_PKG_DESCRIPTOR_MISMATCH', `signed metadata lists ${metadata.slots.length} slots, the slot table ${index.slotCount}`);
  }
  if (metadata.launcher.size !== launcherSize) {
    throw new VerificationError('ERR_PKG_SIZE_MISMATCH', `signed launcher size is ${metadata.launcher.size}, the index says ${launcherSize}`);
  }
  const slots: PackageSlot[] = descriptors.map((x, i) => {
    const meta = metadata.slots[i]!;
    const d = x.d;
    const signedOps = formatOperations(meta.chain);
    const tableOps = formatOperations(x.chain);
    if (signedOps !== tableOps) {
      throw new VerificationError('ERR_PKG_OPERATIONS_MISMATCH', `slot ${i} (${meta.id}): signed operations are ${signedOps}, the slot table says ${tableOps}`);
    }
    const pc = purposeCode(meta.purpose);
    if (pc !== undefined && pc !== d.purpose) {
      throw new VerificationError('ERR_PKG_DESCRIPTOR_MISMATCH', `slot ${i} (${meta.id}): signed purpose ${meta.purpose} (${pc}), the slot table says ${d.purpose}`);
    }
    const lc = lifecycleCode(meta.lifecycle);
    if (lc !== undefined && lc !== d.lifecycle) {
      throw new VerificationError('ERR_PKG_DESCRIPTOR_MISMATCH', `slot ${i} (${meta.id}): signed lifecycle ${meta.lifecycle} (${lc}), the slot table says ${d.lifecycle}`);
    }
    if (meta.permissions !== null && meta.permissions !== d.permissions) {
      throw new VerificationError(
        'ERR_PKG_DESCRIPTOR_MISMATCH',
        `slot ${i} (${meta.id}): signed permissions ${meta.permissions.toString(8)}, the slot table says ${d.permissions.toString(8)}`,
      );
    }
    // The reference writes the source directory's st_size as `size` for tar slots, so only non-tar sizes bind.
    if (!isTarChain(meta.chain) && meta.size !== x.originalSize) {
      throw new VerificationError('ERR_PKG_SIZE_MISMATCH', `slot ${i} (${meta.id}): signed size ${meta.size}, the slot table says ${x.originalSize}`);
    }
    return { index: i, descriptor: d, offset: x.offset, storedSize: x.storedSize, originalSize: x.originalSize, chain: meta.chain, meta };
  });
  return {
    path,
    fileSize,
    index,
    launcherSize,
    metadataOffset,
    metadataSize,
    slotTableOffset,
    metadataCompressed,
    metadataJson,
    metadata,
    slots,
    signer,
    signature: Uint8Array.from(signature),
  };
}
