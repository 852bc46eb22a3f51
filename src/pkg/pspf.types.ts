/**
 * pkg/pspf.types — the typed model of a PSPF/2025 package (FlavorPack v0.3.0 layout), parsed once by pkg/reader.
 *
 * Trust boundary: `PspfIndex` and `SlotDescriptor` are unsigned wire structures. `PackageMetadata` is the signed
 * part: a `PspfPackage` only exists once its metadata bytes verified under the embedded Ed25519 key (quick level).
 * Whether that key is trusted is a separate verdict (`PackageTrust`).
 */
import type { PublicKey } from '../crypto/index.ts';
import type { JsonObject } from '../encoding/json.ts';
import type { EntryVerdict } from '../archive/extract.ts';
import type { OpName } from './operations.ts';

/** PspfIndex is the decoded 8,192-byte index block (pkg/trailer); u64 fields stay bigint until range-checked. */
export interface PspfIndex {
  formatVersion: number;
  indexChecksum: number;
  packageSize: bigint;
  launcherSize: bigint;
  metadataOffset: bigint;
  /** metadataSize is the compressed (gzip) size. */
  metadataSize: bigint;
  slotTableOffset: bigint;
  slotTableSize: bigint;
  /** slotCount: 0‥65535 in the format; capped lower by our limits. */
  slotCount: number;
  /** flags: the reference writer leaves 0 (bits MMAP=1, SIGNED=2, COMPRESSED=4, ENCRYPTED=8). */
  flags: number;
  /** publicKey: raw 32-byte Ed25519 key of the signer (unsigned: anyone can re-sign with their own key). */
  publicKey: Uint8Array;
  /** metadataChecksum: SHA-256 of the compressed metadata bytes. */
  metadataChecksum: Uint8Array;
  /** signatureField: 512 bytes, the Ed25519 signature in the first 64, zero after. */
  signatureField: Uint8Array;
  accessMode: number;
  cacheStrategy: number;
  reservedHint1: number;
  reservedHint2: number;
  pageSize: number;
  maxMemory: bigint;
  minMemory: bigint;
  cpuFeatures: bigint;
  gpuRequirements: bigint;
  numaHints: bigint;
  streamChunkSize: number;
  padding692: Uint8Array;
  buildTimestamp: bigint;
  buildMachine: Uint8Array;
  sourceHash: Uint8Array;
  dependencyHash: Uint8Array;
  licenseId: Uint8Array;
  provenanceUri: Uint8Array;
  capabilities: bigint;
  requirements: bigint;
  extensions: bigint;
  compatibility: number;
  protocolVersion: number;
  futureCrypto: Uint8Array;
  reserved: Uint8Array;
}

/** SlotDescriptor is one decoded 64-byte slot descriptor (pkg/descriptor); all of it is unsigned. */
export interface SlotDescriptor {
  id: bigint;
  nameHash: bigint;
  offset: bigint;
  size: bigint;
  originalSize: bigint;
  operations: bigint;
  /** checksum: first 8 bytes of SHA-256(stored) as LE u64 — advisory only. */
  checksum: bigint;
  purpose: number;
  lifecycle: number;
  priority: number;
  platform: number;
  reserved1: number;
  reserved2: number;
  /** permissions: u16 from the low and high bytes (e.g. 0o644). */
  permissions: number;
}

/** SlotMetadata is one entry of the signed metadata's `slots` array. */
export interface SlotMetadata {
  /** slot: the index the entry claims (must equal its position). */
  slot: number;
  id: string;
  source: string | undefined;
  /** target: where the slot goes, usually `{workenv}/…` (checked by the extractor). */
  target: string;
  /** size: the reference writes the decoded size for files and the source directory's st_size for tar slots. */
  size: number;
  /** sha256: the full digest of the stored bytes — the check the reference skips. */
  sha256: Uint8Array;
  /** operations: the string as signed. */
  operations: string;
  chain: OpName[];
  purpose: string;
  lifecycle: string;
  /** permissions: parsed octal, or null when the writer gave none (files then get 0644). */
  permissions: number | null;
  /** raw keeps every field, known or not. */
  raw: JsonObject;
}

/** LauncherMetadata is the signed `launcher` object. */
export interface LauncherMetadata {
  size: number;
  /** sha256 of the launcher bytes (the reference writes `sha256:sha256:<hex>`; both spellings are read). */
  sha256: Uint8Array;
  tool: string | undefined;
  toolVersion: string | undefined;
}

/** PackageMetadata is the signed metadata document. */
export interface PackageMetadata {
  format: string;
  formatVersion: string;
  name: string;
  version: string;
  slots: SlotMetadata[];
  launcher: LauncherMetadata;
  /** raw is the whole parsed document, unknown fields included. */
  raw: JsonObject;
}

/** PackageSlot joins a slot's unsigned descriptor (range-checked) with its signed metadata entry. */
export interface PackageSlot {
  index: number;
  descriptor: SlotDescriptor;
  offset: number;
  storedSize: number;
  /** originalSize is the descriptor's decoded size (unsigned; checked against the decoded bytes). */
  originalSize: number;
  chain: OpName[];
  meta: SlotMetadata;
  /** descriptorChecksumMatches is filled by deep verification; the field is advisory. */
  descriptorChecksumMatches?: boolean;
}

/** PspfPackage is a parsed package whose metadata signature verified (the quick level). */
export interface PspfPackage {
  /** path the package was read from (for messages). */
  path: string;
  fileSize: number;
  index: PspfIndex;
  launcherSize: number;
  metadataOffset: number;
  metadataSize: number;
  slotTableOffset: number;
  /** metadataCompressed: the exact gzip bytes stored. */
  metadataCompressed: Uint8Array;
  /** metadataJson: the exact decompressed bytes — the signed message. */
  metadataJson: Uint8Array;
  metadata: PackageMetadata;
  slots: PackageSlot[];
  signer: PublicKey;
  signature: Uint8Array;
}

/** VerifyLevel: quick (index + signature + metadata checksum), deep (+ every byte), paranoid (+ full extraction). */
export type VerifyLevel = 'quick' | 'deep' | 'paranoid';

/** PackageTrust is the trust verdict: `self-signed` means intact but the signer is not trusted. */
export type PackageTrust =
  | { kind: 'self-signed' }
  | { kind: 'authentic'; via: 'pinned-key' | 'fingerprint' | 'authorize' | 'trust-root' | 'threshold-signatures'; key: PublicKey };

/** SlotReport is what verification established about one slot. */
export interface SlotReport {
  index: number;
  id: string;
  operations: string;
  storedSize: number;
  originalSize: number;
  sha256: string;
  /** digestVerified: stored bytes matched the signed SHA-256 (deep and paranoid). */
  digestVerified: boolean;
  /** descriptorChecksumMatches: the unsigned 8-byte checksum agreed (advisory; never decides). */
  descriptorChecksumMatches: boolean | undefined;
  /** decodedSize: filled at the paranoid level. */
  decodedSize: number | undefined;
}

/** PackageReport is the result of a successful verification. */
export interface PackageReport {
  path: string;
  level: VerifyLevel;
  name: string;
  version: string;
  signer: PublicKey;
  trust: PackageTrust;
  launcherVerified: boolean;
  slots: SlotReport[];
  /** entries: per-entry verdicts of the scratch extraction (paranoid only). */
  entries: EntryVerdict[] | undefined;
}
