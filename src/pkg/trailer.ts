/**
 * pkg/trailer — the PSPF/2025 trailer as written by FlavorPack v0.3.0 (provide-io/flavorpack@377d24d,
 * `docs/reference/spec/pspf-2025.md` + the Python writer): 8,200 bytes at the end of the file.
 *
 * ```
 * EOF-8200   4 B     start magic F0 9F 93 A6 ("📦")
 * EOF-8196   8192 B  index block, little-endian (layout below)
 * EOF-4      4 B     end magic   F0 9F AA 84 ("🪄")
 * ```
 *
 * Trust boundary: every byte here is attacker-controlled and NOT signed. The index is protected only by an Adler-32
 * checksum (a typo detector, not a MAC). What the index points at is trusted only once the metadata it locates
 * verifies under Ed25519 and each region's bytes match the digests inside that signed metadata (pkg/verify).
 * The parser is total: any 8,192 bytes parse into a model; range checks against the file happen in pkg/reader.
 *
 * Index block (Python struct `<II QQQQQQ II 32s32s512s BBBBIQQQQQI12x Q32s32s32s16s8s QQQII 512s 6816s`):
 * off 0 u32 format_version (0x20250001) · 4 u32 index_checksum · 8 u64 package_size · 16 u64 launcher_size ·
 * 24 u64 metadata_offset · 32 u64 metadata_size · 40 u64 slot_table_offset · 48 u64 slot_table_size ·
 * 56 u32 slot_count · 60 u32 flags · 64 32B public_key · 96 32B metadata_checksum · 128 512B integrity_signature ·
 * 640 u8×4 access_mode, cache_strategy, reserved_hint1, reserved_hint2 · 644 u32 page_size ·
 * 648 u64×5 max_memory, min_memory, cpu_features, gpu_requirements, numa_hints · 688 u32 stream_chunk_size ·
 * 692 12B pad · 704 u64 build_timestamp · 712 32B build_machine · 744 32B source_hash · 776 32B dependency_hash ·
 * 808 16B license_id · 824 8B provenance_uri · 832 u64×3 capabilities, requirements, extensions ·
 * 856 u32 compatibility · 860 u32 protocol_version · 864 512B future_crypto · 1376 6816B reserved.
 * A future version may assign meaning to the pads, future_crypto and reserved; we keep their bytes verbatim.
 */
import type { PspfIndex } from './pspf.types.ts';

/** PSPF_START_MAGIC opens the trailer: UTF-8 of U+1F4E6 "📦". */
export const PSPF_START_MAGIC = Uint8Array.of(0xf0, 0x9f, 0x93, 0xa6);
/** PSPF_END_MAGIC is the last 4 bytes of every package: UTF-8 of U+1FA84 "🪄". */
export const PSPF_END_MAGIC = Uint8Array.of(0xf0, 0x9f, 0xaa, 0x84);
/** PSPF_INDEX_BYTES is the size of the index block. */
export const PSPF_INDEX_BYTES = 8192;
/** PSPF_TRAILER_BYTES = start magic + index + end magic. */
export const PSPF_TRAILER_BYTES = 4 + PSPF_INDEX_BYTES + 4;
/** PSPF_FORMAT_VERSION is the only format_version we read and write (PSPF/2025 v1). */
export const PSPF_FORMAT_VERSION = 0x20250001;
/** Field offsets inside the index that other modules and tests need. */
export const INDEX_CHECKSUM_OFFSET = 4;
export const INDEX_PUBLIC_KEY_OFFSET = 64;
export const INDEX_METADATA_CHECKSUM_OFFSET = 96;
export const INDEX_SIGNATURE_OFFSET = 128;
/** INDEX_SIGNATURE_FIELD_BYTES: the Ed25519 signature occupies the first 64 bytes, the rest must be zero. */
export const INDEX_SIGNATURE_FIELD_BYTES = 512;

/** Defaults the reference writer puts in the index (what FlavorPack v0.3.0 emits; verified against the vectors). */
export const PSPF_INDEX_DEFAULTS = {
  accessMode: 2, // ACCESS_AUTO
  cacheStrategy: 1, // CACHE_NORMAL
  pageSize: 4096,
  maxMemory: 128n * 1024n * 1024n,
  minMemory: 8n * 1024n * 1024n,
  streamChunkSize: 65536,
  capabilities: 0x83n, // the Python writer's value (the spec text says 0x81)
  compatibility: PSPF_FORMAT_VERSION,
  protocolVersion: 1,
} as const;

/**
 * adler32 is RFC 1950 §8.2 Adler-32 (the index checksum; the FlavorPack seed document says CRC32, the code says
 * Adler-32). Sums are reduced every 3,800 bytes so the 32-bit intermediate never overflows.
 */
export function adler32(data: Uint8Array): number {
  const MOD = 65521;
  let a = 1;
  let b = 0;
  let i = 0;
  while (i < data.length) {
    const end = Math.min(i + 3800, data.length);
    for (; i < end; i++) {
      a += data[i]!;
      b += a;
    }
    a %= MOD;
    b %= MOD;
  }
  return ((b << 16) | a) >>> 0;
}

/** computeIndexChecksum is Adler-32 over the 8,192-byte index with the checksum field (offset 4, 4 B) zeroed. */
export function computeIndexChecksum(index: Uint8Array): number {
  if (index.length !== PSPF_INDEX_BYTES) throw new Error('pkg/trailer: index must be 8192 bytes');
  const copy = Uint8Array.from(index);
  copy.fill(0, INDEX_CHECKSUM_OFFSET, INDEX_CHECKSUM_OFFSET + 4);
  return adler32(copy);
}

/** parseIndex decodes the 8,192-byte index block into its fields without judging them. */
export function parseIndex(bytes: Uint8Array): PspfIndex {
  if (bytes.length !== PSPF_INDEX_BYTES) throw new Error('pkg/trailer: index must be 8192 bytes');
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u32 = (o: number): number => v.getUint32(o, true);
  const u64 = (o: number): bigint => v.getBigUint64(o, true);
  const b = (o: number, n: number): Uint8Array => bytes.slice(o, o + n);
  return {
    formatVersion: u32(0),
    indexChecksum: u32(4),
    packageSize: u64(8),
    launcherSize: u64(16),
    metadataOffset: u64(24),
    metadataSize: u64(32),
    slotTableOffset: u64(40),
    slotTableSize: u64(48),
    slotCount: u32(56),
    flags: u32(60),
    publicKey: b(64, 32),
    metadataChecksum: b(96, 32),
    signatureField: b(128, INDEX_SIGNATURE_FIELD_BYTES),
    accessMode: bytes[640]!,
    cacheStrategy: bytes[641]!,
    reservedHint1: bytes[642]!,
    reservedHint2: bytes[643]!,
    pageSize: u32(644),
    maxMemory: u64(648),
    minMemory: u64(656),
    cpuFeatures: u64(664),
    gpuRequirements: u64(672),
    numaHints: u64(680),
    streamChunkSize: u32(688),
    padding692: b(692, 12),
    buildTimestamp: u64(704),
    buildMachine: b(712, 32),
    sourceHash: b(744, 32),
    dependencyHash: b(776, 32),
    licenseId: b(808, 16),
    provenanceUri: b(824, 8),
    capabilities: u64(832),
    requirements: u64(840),
    extensions: u64(848),
    compatibility: u32(856),
    protocolVersion: u32(860),
    futureCrypto: b(864, 512),
    reserved: b(1376, 6816),
  };
}

/**
 * formatIndex encodes an index block; the checksum field is recomputed (Adler-32 with the field zeroed) unless
 * `keepChecksum` is set, which tests use to write deliberately wrong checksums.
 */
export function formatIndex(index: PspfIndex, keepChecksum = false): Uint8Array {
  const out = new Uint8Array(PSPF_INDEX_BYTES);
  const v = new DataView(out.buffer);
  const u32 = (o: number, x: number): void => v.setUint32(o, x >>> 0, true);
  const u64 = (o: number, x: bigint): void => v.setBigUint64(o, BigInt.asUintN(64, x), true);
  const put = (o: number, n: number, x: Uint8Array): void => {
    if (x.length !== n) throw new Error(`pkg/trailer: field at ${o} must be ${n} bytes`);
    out.set(x, o);
  };
  u32(0, index.formatVersion);
  u64(8, index.packageSize);
  u64(16, index.launcherSize);
  u64(24, index.metadataOffset);
  u64(32, index.metadataSize);
  u64(40, index.slotTableOffset);
  u64(48, index.slotTableSize);
  u32(56, index.slotCount);
  u32(60, index.flags);
  put(64, 32, index.publicKey);
  put(96, 32, index.metadataChecksum);
  put(128, INDEX_SIGNATURE_FIELD_BYTES, index.signatureField);
  out[640] = index.accessMode;
  out[641] = index.cacheStrategy;
  out[642] = index.reservedHint1;
  out[643] = index.reservedHint2;
  u32(644, index.pageSize);
  u64(648, index.maxMemory);
  u64(656, index.minMemory);
  u64(664, index.cpuFeatures);
  u64(672, index.gpuRequirements);
  u64(680, index.numaHints);
  u32(688, index.streamChunkSize);
  put(692, 12, index.padding692);
  u64(704, index.buildTimestamp);
  put(712, 32, index.buildMachine);
  put(744, 32, index.sourceHash);
  put(776, 32, index.dependencyHash);
  put(808, 16, index.licenseId);
  put(824, 8, index.provenanceUri);
  u64(832, index.capabilities);
  u64(840, index.requirements);
  u64(848, index.extensions);
  u32(856, index.compatibility);
  u32(860, index.protocolVersion);
  put(864, 512, index.futureCrypto);
  put(1376, 6816, index.reserved);
  u32(INDEX_CHECKSUM_OFFSET, keepChecksum ? index.indexChecksum : computeIndexChecksum(out));
  return out;
}

/** formatTrailer wraps an encoded index in the two magics (8,200 bytes). */
export function formatTrailer(indexBytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(PSPF_TRAILER_BYTES);
  out.set(PSPF_START_MAGIC, 0);
  out.set(indexBytes, 4);
  out.set(PSPF_END_MAGIC, 4 + PSPF_INDEX_BYTES);
  return out;
}

/** emptyIndex returns an index with the reference writer's defaults and every other field zero. */
export function emptyIndex(): PspfIndex {
  const d = PSPF_INDEX_DEFAULTS;
  return {
    formatVersion: PSPF_FORMAT_VERSION,
    indexChecksum: 0,
    packageSize: 0n,
    launcherSize: 0n,
    metadataOffset: 0n,
    metadataSize: 0n,
    slotTableOffset: 0n,
    slotTableSize: 0n,
    slotCount: 0,
    flags: 0,
    publicKey: new Uint8Array(32),
    metadataChecksum: new Uint8Array(32),
    signatureField: new Uint8Array(INDEX_SIGNATURE_FIELD_BYTES),
    accessMode: d.accessMode,
    cacheStrategy: d.cacheStrategy,
    reservedHint1: 0,
    reservedHint2: 0,
    pageSize: d.pageSize,
    maxMemory: d.maxMemory,
    minMemory: d.minMemory,
    cpuFeatures: 0n,
    gpuRequirements: 0n,
    numaHints: 0n,
    streamChunkSize: d.streamChunkSize,
    padding692: new Uint8Array(12),
    buildTimestamp: 0n,
    buildMachine: new Uint8Array(32),
    sourceHash: new Uint8Array(32),
    dependencyHash: new Uint8Array(32),
    licenseId: new Uint8Array(16),
    provenanceUri: new Uint8Array(8),
    capabilities: d.capabilities,
    requirements: 0n,
    extensions: 0n,
    compatibility: d.compatibility,
    protocolVersion: d.protocolVersion,
    futureCrypto: new Uint8Array(512),
    reserved: new Uint8Array(6816),
  };
}
