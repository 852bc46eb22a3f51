/**
 * test/pkg/helpers — builders for PSPF/2025 test packages: `assemble` lays out a package from parts with the same
 * rules as pkg/writer (computeLayout) but lets a test control every byte (metadata JSON, signature, descriptors,
 * index), so hostile packages can be made consistent except for the one lie under test.
 */
import { readFileSync } from 'node:fs';
import { PrivateKey, sha256 } from '../../src/crypto/index.ts';
import {
  compressMetadata,
  emptyIndex,
  formatDescriptor,
  formatIndex,
  formatTrailer,
  nameHash,
  packOperations,
  parseDescriptor,
  parseIndex,
  parseOperations,
  PLACEHOLDER_LAUNCHER,
  PSPF_TRAILER_BYTES,
  truncatedDigest,
  type PspfIndex,
  type SlotDescriptor,
} from '../../src/pkg/index.ts';
import { computeLayout } from '../../src/pkg/writer.ts';
import { vectorPath } from '../support/vectors.ts';
import { cli, type Transcript } from '../support/cli.ts';

/** SEED_KEY is the vectors' key: Ed25519 seed = SHA-256("custody-interop-1"). */
export const SEED_KEY = PrivateKey.fromSeed(sha256('custody-interop-1'));
export const SEED_PUBLIC_HEX = 'dd3773c6435a7f915de513313dc1bedb9d071eee19497b3cd38e1b2b7cb6fe19';
/** ATTACKER is another deterministic key. */
export const ATTACKER = PrivateKey.fromSeed(sha256('attacker'));

export const VECTORS = ['03-multi-ops', '04-seeded', 'T08-slot-swap-descriptor-updated'] as const;

export function vec(name: string): string {
  return vectorPath('pspf', `${name}.psp`);
}

/** FactsDescriptor is a slot descriptor as the facts files spell it. */
export interface FactsDescriptor {
  id: number;
  name_hash_hex: string;
  offset: number;
  size: number;
  original_size: number;
  operations_hex: string;
  checksum_hex: string;
  purpose: number;
  lifecycle: number;
  priority: number;
  platform: number;
  reserved1: number;
  reserved2: number;
  permissions_octal: string;
  raw_hex: string;
}

export interface FactsTarMember {
  path: string;
  type: string;
  mode: string;
  size: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  mtime: number;
  sha256: string;
}

export interface FactsSlot {
  index: number;
  descriptor: FactsDescriptor;
  id: string;
  decoded_sha256: string;
  original_sha256: string;
  original_content_size: number;
  reference_read_slot: { size: number; sha256: string };
  source: { kind: string; path: string };
  tar_members?: FactsTarMember[];
  tar_header_format?: string;
  [key: string]: unknown;
}

/** Facts is the shape of test/vectors/pspf/*.facts.json (see test/vectors/README.md). */
export interface Facts {
  file: string;
  file_size: number;
  file_sha256: string;
  trailer_magic_ok: boolean;
  index: Record<string, unknown> & { index_checksum_recomputed_adler32_hex: string };
  layout: Record<string, unknown> & { slot_table: { offset: number; size: number } };
  signed_message: string;
  metadata: Record<string, unknown> & { launcher: { checksum: string }; slots: Array<{ id: string; target: string }> };
  package: { name: string; version: string };
  independent_signature_check: boolean;
  slots: FactsSlot[];
  reference_verification: { flavor_verify_cli: { accepted: boolean } };
  reference_accepts: boolean;
  key: { source: string; seed?: string; derivation?: string; derived_public_key_hex?: string; matches_index_public_key?: boolean };
  public_key_hex: string;
  tamper?: { base: string; what: string; edits: Array<{ offset: number; replace?: string; set?: string }> };
  [key: string]: unknown;
}

/** facts loads a vector's facts file (a trusted local file: plain JSON.parse). */
export function facts(name: string): Facts {
  return JSON.parse(readFileSync(vectorPath('pspf', `${name}.facts.json`), 'utf8')) as Facts;
}

export interface PartSlot {
  id: string;
  /** stored bytes exactly as they go in the file. */
  stored: Uint8Array;
  operations?: string;
  target?: string;
  purpose?: string;
  lifecycle?: string;
  permissions?: string | null;
  /** size recorded in the metadata (default originalSize). */
  size?: number;
  /** originalSize in the descriptor (default stored length). */
  originalSize?: number;
  /** checksum recorded in the metadata (default sha256 of stored). */
  checksum?: string;
  /** descriptor overrides (unsigned). */
  descriptor?: Partial<SlotDescriptor>;
}

export interface Parts {
  slots: PartSlot[];
  launcher?: Uint8Array;
  key?: PrivateKey;
  /** editDoc changes the metadata document before it is serialised and signed. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  editDoc?: (doc: any) => void;
  /** json replaces the serialised metadata (signed unless signature is given). */
  json?: Uint8Array;
  /** gz replaces the compressed metadata bytes. */
  gz?: Uint8Array;
  /** signature replaces the 64-byte signature. */
  signature?: Uint8Array;
  /** index edits the index before encoding. */
  index?: (idx: PspfIndex) => void;
  keepIndexChecksum?: boolean;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** assemble builds a package from parts (see the module doc). */
export function assemble(p: Parts): Uint8Array {
  const key = p.key ?? SEED_KEY;
  const launcher = p.launcher ?? PLACEHOLDER_LAUNCHER;
  const doc = {
    format: 'PSPF/2025',
    format_version: '1.0.0',
    package: { name: 'hostile', version: '1.0.0' },
    slots: p.slots.map((s, i) => ({
      slot: i,
      id: s.id,
      source: `{workenv}/${s.id}`,
      target: s.target ?? `{workenv}/${s.id}`,
      size: s.size ?? s.originalSize ?? s.stored.length,
      checksum: s.checksum ?? `sha256:${hex(sha256(s.stored))}`,
      operations: s.operations ?? 'raw',
      purpose: s.purpose ?? 'data',
      lifecycle: s.lifecycle ?? 'runtime',
      permissions: s.permissions ?? null,
    })),
    execution: { primary_slot: 0, command: '', env: {} },
    launcher: { tool: 'test', tool_version: '0', size: launcher.length, checksum: `sha256:${hex(sha256(launcher))}`, capabilities: [] },
    compatibility: { min_format_version: '1.0.0', features: [] },
  };
  p.editDoc?.(doc);
  const json = p.json ?? new TextEncoder().encode(JSON.stringify(doc, null, 2));
  const signature = p.signature ?? key.sign(json);
  const gz = p.gz ?? compressMetadata(json);
  const lay = computeLayout(launcher.length, gz.length, p.slots.map((s) => s.stored.length));
  const out = new Uint8Array(lay.packageSize);
  out.set(launcher, 0);
  out.set(gz, lay.metadataOffset);
  p.slots.forEach((s, i) => {
    const perm = s.permissions === undefined || s.permissions === null ? 0o644 : parseInt(s.permissions, 8);
    const d: SlotDescriptor = {
      id: BigInt(i),
      nameHash: nameHash(s.id),
      offset: BigInt(lay.slotOffsets[i]!),
      size: BigInt(s.stored.length),
      originalSize: BigInt(s.originalSize ?? s.stored.length),
      operations: packOperations(parseOperations(s.operations ?? 'raw')),
      checksum: truncatedDigest(sha256(s.stored)),
      purpose: ['data', 'code', 'config', 'media'].indexOf(s.purpose ?? 'data'),
      lifecycle: 2,
      priority: 1,
      platform: 0,
      reserved1: 0,
      reserved2: 0,
      permissions: perm,
      ...s.descriptor,
    };
    out.set(formatDescriptor(d), lay.slotTableOffset + i * 64);
    out.set(s.stored, lay.slotOffsets[i]);
  });
  const idx = emptyIndex();
  idx.packageSize = BigInt(lay.packageSize);
  idx.launcherSize = BigInt(launcher.length);
  idx.metadataOffset = BigInt(lay.metadataOffset);
  idx.metadataSize = BigInt(gz.length);
  idx.slotTableOffset = BigInt(lay.slotTableOffset);
  idx.slotTableSize = BigInt(lay.slotTableSize);
  idx.slotCount = p.slots.length;
  idx.publicKey = key.publicKey.raw;
  idx.metadataChecksum = sha256(gz);
  idx.signatureField = new Uint8Array(512);
  idx.signatureField.set(signature);
  p.index?.(idx);
  out.set(formatTrailer(formatIndex(idx, p.keepIndexChecksum === true)), lay.trailerOffset);
  return out;
}

/** indexOf decodes the index of a package in memory. */
export function indexOf(bytes: Uint8Array): PspfIndex {
  return parseIndex(bytes.subarray(bytes.length - PSPF_TRAILER_BYTES + 4, bytes.length - 4));
}

/** withIndex edits a package's index (re-computing its checksum unless keepChecksum). */
export function withIndex(bytes: Uint8Array, edit: (idx: PspfIndex) => void, keepChecksum = false): Uint8Array {
  const out = Uint8Array.from(bytes);
  const idx = indexOf(out);
  edit(idx);
  out.set(formatIndex(idx, keepChecksum), out.length - PSPF_TRAILER_BYTES + 4);
  return out;
}

/** withDescriptor edits slot i's descriptor in place (the slot table is not covered by the index checksum). */
export function withDescriptor(bytes: Uint8Array, i: number, edit: (d: SlotDescriptor) => void): Uint8Array {
  const out = Uint8Array.from(bytes);
  const at = Number(indexOf(out).slotTableOffset) + i * 64;
  const d = parseDescriptor(out.subarray(at, at + 64));
  edit(d);
  out.set(formatDescriptor(d), at);
  return out;
}

/** slotOffset returns slot i's offset from its descriptor. */
export function slotOffset(bytes: Uint8Array, i: number): number {
  const at = Number(indexOf(bytes).slotTableOffset) + i * 64;
  return Number(parseDescriptor(bytes.subarray(at, at + 64)).offset);
}

/** verifyCli runs `custody verify PKG …` (the verify command sniffs the PSPF end magic and hands over to runPackageVerify). */
export async function verifyCli(argv: string[], opts: { cwd: string; env?: Record<string, string | undefined> }): Promise<Transcript> {
  return cli(['verify', ...argv], { ...opts, now: new Date('2026-01-01T00:00:00Z') });
}
