/**
 * pkg/limits — the caps applied while reading PSPF/2025 packages (FlavorPack v0.3.0 layout), with units and
 * reasons. Every number here bounds memory or time spent on attacker-controlled input before it is verified.
 */

/** PackageLimits caps what pkg/reader and pkg/codec accept. */
export interface PackageLimits {
  /** maxSlots: slot descriptors read (the format allows 65,535; 4,096 keeps the table ≤ 256 KiB). */
  maxSlots: number;
  /** maxMetadataBytes: compressed metadata bytes read from the file (8 MiB). */
  maxMetadataBytes: number;
  /** maxMetadataJsonBytes: decompressed metadata bytes; a gzip bomb stops here (8 MiB). */
  maxMetadataJsonBytes: number;
  /**
   * maxBufferedSlotBytes: bzip2 and xz are decoded in memory (compressjs and @napi-rs/lzma have no streaming
   * API), so their stored and decoded sizes are capped at 512 MiB; gzip and tar stream with no such cap.
   */
  maxBufferedSlotBytes: number;
}

/** DEFAULT_PACKAGE_LIMITS are the defaults of {@link PackageLimits}. */
export const DEFAULT_PACKAGE_LIMITS: Readonly<PackageLimits> = Object.freeze({
  maxSlots: 4096,
  maxMetadataBytes: 8 * 1024 * 1024,
  maxMetadataJsonBytes: 8 * 1024 * 1024,
  maxBufferedSlotBytes: 512 * 1024 * 1024,
});

/** resolvePackageLimits fills defaults once into a Required<PackageLimits>. */
export function resolvePackageLimits(l: Partial<PackageLimits> = {}): PackageLimits {
  return { ...DEFAULT_PACKAGE_LIMITS, ...l };
}

/** IO_CHUNK_BYTES is the read size for hashing and streaming slots (1 MiB). */
export const IO_CHUNK_BYTES = 1024 * 1024;

/** SLOT_ALIGNMENT: the reference writer starts every slot on a 4,096-byte boundary (page_aligned). */
export const SLOT_ALIGNMENT = 4096;
