/**
 * pkg/verify — verification levels and trust verdict for PSPF/2025 packages (FlavorPack v0.3.0 layout).
 *
 * - quick: index (magics, Adler-32, layout), metadata SHA-256, Ed25519 over the exact metadata JSON, and the
 *   signed metadata against the unsigned slot table (pkg/reader);
 * - deep (default): + the launcher and every slot's stored bytes against the full SHA-256 in the SIGNED metadata,
 *   stored bytes consistent with the declared operations, zero padding (pkg/deep);
 * - paranoid: + a full extraction into a scratch directory under archive/extract's rules, with every decoded size
 *   checked (pkg/extract); the scratch directory is always removed.
 * Then the trust verdict (pkg/trust), from the required `trust` option: authentic, self-signed ("intact, signer not
 * trusted", only under `{ anySigner: true }`), or refused with ERR_PKG_UNTRUSTED_SIGNER (also when nothing is
 * configured: trust fails closed).
 *
 * Trust boundary: `verifyPackage` returns a report only when every check of the level passed, and throws a coded
 * error otherwise (docs/errors.md). The trust policy is evaluated right after the signature, before any slot is
 * read, so an untrusted package costs no hashing.
 */
import { promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SafeExtractOptions } from '../archive/extract.ts';
import { toIoError } from '../errors.ts';
import { verifyContents } from './deep.ts';
import { extractPackage } from './extract.ts';
import { formatOperations, isTarChain } from './operations.ts';
import { openPackage, type OpenPackageOptions, type PackageReader } from './reader.ts';
import type { PackageReport, SlotReport, VerifyLevel } from './pspf.types.ts';
import { evaluateTrust, type PackageTrustOption } from './trust.ts';

export interface VerifyPackageOptions extends OpenPackageOptions {
  /** level: 'quick' | 'deep' | 'paranoid' (default 'deep'). */
  level?: VerifyLevel;
  /** trust (required): pinned keys / fingerprints, a trust-root hook, or `{ anySigner: true }` (pkg/trust). */
  trust: PackageTrustOption;
  /** extract: rules for the paranoid extraction (links, caps). */
  extract?: SafeExtractOptions;
  /** scratchDir: where the paranoid extraction happens (default os.tmpdir()). */
  scratchDir?: string;
}

/**
 * verifyPackage verifies an open package at the requested level and returns the report, or throws.
 *
 * @example
 * const report = await verifyPackageFile('app.psp', { level: 'deep', trust: { keys: [pinned] } });
 * report.trust.kind; // 'authentic'
 */
export async function verifyPackage(reader: PackageReader, options: VerifyPackageOptions): Promise<PackageReport> {
  const level = options.level ?? 'deep';
  const m = reader.model;
  const trust = await evaluateTrust(m.signer, options?.trust);
  let slots: SlotReport[] = m.slots.map((s) => ({
    index: s.index,
    id: s.meta.id,
    operations: formatOperations(s.chain),
    storedSize: s.storedSize,
    originalSize: s.originalSize,
    sha256: Buffer.from(s.meta.sha256).toString('hex'),
    digestVerified: false,
    descriptorChecksumMatches: undefined,
    decodedSize: undefined,
  }));
  let launcherVerified = false;
  let entries: PackageReport['entries'];
  if (level === 'deep' || level === 'paranoid') {
    const c = await verifyContents(reader);
    slots = c.slots;
    launcherVerified = c.launcherVerified;
  }
  if (level === 'paranoid') {
    let scratch: string;
    try {
      scratch = await fsp.mkdtemp(join(options.scratchDir ?? tmpdir(), 'custody-verify-'));
    } catch (e) {
      throw toIoError(e, options.scratchDir ?? tmpdir(), 'write');
    }
    try {
      const r = await extractPackage(reader, join(scratch, 'out'), { ...options.extract, trust: options.trust, contentsVerified: true });
      entries = r.entries;
      slots = slots.map((s) => {
        const slot = m.slots[s.index]!;
        // A file slot's decoded size is what was written (it differs from original_size for stored-as-is gzip).
        const file = isTarChain(slot.chain) ? undefined : r.entries.find((e) => e.slot === s.index && e.type === 'file');
        return { ...s, decodedSize: file?.size ?? slot.originalSize };
      });
    } finally {
      await fsp.rm(scratch, { recursive: true, force: true });
    }
  }
  return {
    path: m.path,
    level,
    name: m.metadata.name,
    version: m.metadata.version,
    signer: m.signer,
    trust,
    launcherVerified,
    slots,
    entries,
  };
}

/** verifyPackageFile opens path, verifies it and closes it. */
export async function verifyPackageFile(path: string, options: VerifyPackageOptions): Promise<PackageReport> {
  const reader = await openPackage(path, options);
  try {
    return await verifyPackage(reader, options);
  } finally {
    await reader.close();
  }
}
