/**
 * pkg — signed packages in the PSPF/2025 format as written by FlavorPack v0.3.0 (provide-io/flavorpack@377d24d):
 * read, verify (quick / deep / paranoid), extract safely, and write deterministically. See docs/packages.md.
 *
 * Trust boundary: everything in a package file is attacker-controlled; the metadata is trusted once its Ed25519
 * signature verifies, every other byte once it matches a digest in that metadata, and the signer only under a
 * trust policy (pkg/trust). Dependencies: Node built-ins, compressjs (bzip2) and @napi-rs/lzma (xz), both loaded on
 * first use (pkg/codec).
 */
export { PSPF_END_MAGIC, PSPF_START_MAGIC, PSPF_FORMAT_VERSION, PSPF_INDEX_BYTES, PSPF_TRAILER_BYTES, adler32, computeIndexChecksum, emptyIndex, formatIndex, formatTrailer, parseIndex } from './trailer.ts';
export { LIFECYCLES, PLATFORMS, PURPOSES, SLOT_DESCRIPTOR_BYTES, formatDescriptor, nameHash, parseDescriptor, truncatedDigest } from './descriptor.ts';
export { OP_CODES, formatOperations, isTarChain, packOperations, parseOperations, unpackOperations } from './operations.ts';
export type { OpName } from './operations.ts';
export { DEFAULT_PACKAGE_LIMITS } from './limits.ts';
export type { PackageLimits } from './limits.ts';
export { SLOT_ID_MAX_BYTES, checkSlotId, slotIdProblem } from './slot-id.ts';
export { compressMetadata, decompressMetadata, formatMetadata, parseMetadata } from './metadata.ts';
export { decodeStream, encodeStream, sniffMatches, xzDecodedSize } from './codec.ts';
export { PackageReader, isPspfFile, openPackage, readPackage } from './reader.ts';
export type { OpenPackageOptions } from './reader.ts';
export { verifyContents } from './deep.ts';
export { extractPackage, findSlot, targetToPath, WORKENV_PLACEHOLDER } from './extract.ts';
export type { ExtractPackageOptions } from './extract.ts';
export { verifyPackage, verifyPackageFile } from './verify.ts';
export type { VerifyPackageOptions } from './verify.ts';
export { CUSTODY_ALLOWED_KEYS_ENV, evaluateTrust, hasTrustPolicy, parseAllowedKeys, publicKeyFromHex } from './trust.ts';
export type { AnySigner, PackageTrustOption, PackageTrustPolicy } from './trust.ts';
export { PLACEHOLDER_LAUNCHER, PLACEHOLDER_LAUNCHER_TEXT } from './launcher.ts';
export { writePackage } from './writer.ts';
export type { SlotInput, SlotSource, WritePackageOptions, WrittenPackage, WrittenSlot } from './writer.ts';
export type * from './pspf.types.ts';
