/**
 * pkg/descriptor — PSPF/2025 slot descriptors (64 bytes, little-endian, `<QQQQQQQBBBBBBBB`) as FlavorPack v0.3.0
 * writes them, and the enum codes of purpose, lifecycle and platform.
 *
 * ```
 * off  0 u64 id              slot index (0, 1, …)
 * off  8 u64 name_hash       advisory: the implementations disagree (Python/Go: SHA-256(id)[0:8] read LE)
 * off 16 u64 offset          file offset of the stored bytes
 * off 24 u64 size            stored (encoded) size
 * off 32 u64 original_size   decoded size
 * off 40 u64 operations      op codes, LSB first (pkg/operations)
 * off 48 u64 checksum        first 8 bytes of SHA-256(stored bytes), read LE — UNSIGNED and only advisory
 * off 56 u8  purpose · 57 lifecycle · 58 priority · 59 platform · 60 reserved1 · 61 reserved2 ·
 * off 62 u8  permissions (low byte) · 63 permissions_high
 * ```
 * Trust boundary: the whole slot table is unsigned. Offsets and sizes only say where to look; what is found there
 * must match the full SHA-256 in the signed metadata (pkg/verify). Enum codes follow the code, not the
 * SLOT_DESCRIPTOR_SPECIFICATION.md table, which swaps CODE and DATA.
 */
import { sha256 } from '../crypto/index.ts';
import type { SlotDescriptor } from './pspf.types.ts';

/** SLOT_DESCRIPTOR_BYTES is the size of one descriptor. */
export const SLOT_DESCRIPTOR_BYTES = 64;
/** DESCRIPTOR_CHECKSUM_OFFSET locates the advisory 8-byte checksum inside a descriptor. */
export const DESCRIPTOR_CHECKSUM_OFFSET = 48;

/** PURPOSES: code → name (data=0, code=1, config=2, media=3). */
export const PURPOSES = ['data', 'code', 'config', 'media'] as const;
/** LIFECYCLES: code → name. */
export const LIFECYCLES = [
  'init',
  'startup',
  'runtime',
  'shutdown',
  'cache',
  'temporary',
  'lazy',
  'eager',
  'dev',
  'config',
  'platform',
] as const;
/** PLATFORMS: code → name. */
export const PLATFORMS = ['any', 'linux', 'darwin', 'windows'] as const;

export type Purpose = (typeof PURPOSES)[number];
export type Lifecycle = (typeof LIFECYCLES)[number];

/** purposeCode returns the code of a purpose name, or undefined for a name the reference does not know. */
export function purposeCode(name: string): number | undefined {
  const i = (PURPOSES as readonly string[]).indexOf(name);
  return i < 0 ? undefined : i;
}

/** lifecycleCode returns the code of a lifecycle name, or undefined (the reference maps unknown names to runtime). */
export function lifecycleCode(name: string): number | undefined {
  const i = (LIFECYCLES as readonly string[]).indexOf(name);
  return i < 0 ? undefined : i;
}

/** parseDescriptor decodes one 64-byte descriptor without judging it. */
export function parseDescriptor(bytes: Uint8Array): SlotDescriptor {
  if (bytes.length !== SLOT_DESCRIPTOR_BYTES) throw new Error('pkg/descriptor: a descriptor is 64 bytes');
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u64 = (o: number): bigint => v.getBigUint64(o, true);
  return {
    id: u64(0),
    nameHash: u64(8),
    offset: u64(16),
    size: u64(24),
    originalSize: u64(32),
    operations: u64(40),
    checksum: u64(48),
    purpose: bytes[56]!,
    lifecycle: bytes[57]!,
    priority: bytes[58]!,
    platform: bytes[59]!,
    reserved1: bytes[60]!,
    reserved2: bytes[61]!,
    permissions: bytes[62]! | (bytes[63]! << 8),
  };
}

/** formatDescriptor encodes one descriptor. */
export function formatDescriptor(d: SlotDescriptor): Uint8Array {
  const out = new Uint8Array(SLOT_DESCRIPTOR_BYTES);
  const v = new DataView(out.buffer);
  const u64 = (o: number, x: bigint): void => v.setBigUint64(o, BigInt.asUintN(64, x), true);
  u64(0, d.id);
  u64(8, d.nameHash);
  u64(16, d.offset);
  u64(24, d.size);
  u64(32, d.originalSize);
  u64(40, d.operations);
  u64(48, d.checksum);
  out[56] = d.purpose;
  out[57] = d.lifecycle;
  out[58] = d.priority;
  out[59] = d.platform;
  out[60] = d.reserved1;
  out[61] = d.reserved2;
  out[62] = d.permissions & 0xff;
  out[63] = (d.permissions >> 8) & 0xff;
  return out;
}

/** truncatedDigest reads the first 8 bytes of a SHA-256 digest as a little-endian u64 (descriptor checksum rule). */
export function truncatedDigest(digest: Uint8Array): bigint {
  return new DataView(digest.buffer, digest.byteOffset, 8).getBigUint64(0, true);
}

/** nameHash is the Python/Go writers' name hash: SHA-256(UTF-8 slot id)[0:8] read LE. Advisory only. */
export function nameHash(id: string): bigint {
  return truncatedDigest(sha256(id));
}
