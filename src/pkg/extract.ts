/**
 * pkg/extract — extracting a PSPF/2025 package (FlavorPack v0.3.0 layout) with archive/extract's rules.
 *
 * Every slot's decoded content goes to its signed `target` under the destination: `{workenv}` is the destination
 * itself, `{workenv}/a/b` is `a/b` inside it (any other `{…}` placeholder is refused with ERR_PKG_PATH_INVALID;
 * targets pass the same path rules as tar entries). A tar slot (chain starting with TAR) is unpacked under its
 * target; any other slot becomes one file at its target, with the signed `permissions` (default 0644). Nothing
 * else is written: not the launcher, not the metadata. With `slot`, only that slot is extracted and the
 * destination itself is the file or directory.
 *
 * Trust boundary: the signer must be accepted by the required `trust` option (pkg/trust; nothing configured
 * refuses with ERR_PKG_UNTRUSTED_SIGNER), and the package must already pass the deep checks (pkg/deep) —
 * extractPackage runs them first,
 * so decoders only see stored bytes bound to the signature — and the stored bytes are hashed AGAIN while they
 * are decoded, so a file changed in place between the two reads is still refused (nothing is committed). The
 * decoded size must equal the descriptor's original_size (ERR_PKG_SIZE_MISMATCH), except in the shape the
 * reference writer gives input that was already gzip ({@link isStoredAsIs}): there the signed SHA-256 of the stored
 * bytes is the integrity check and the decoded size is only capped by the extraction limits (size and ratio).
 * Extracted files and directories are fsynced before the commit rename (archive/extract, "Durability").
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { createMultiHasher, type MultiHasher } from '../crypto/index.ts';
import { PolicyError, UsageError, VerificationError, toIoError } from '../errors.ts';
import { SafeExtractor, type ExtractResult, type SafeExtractOptions } from '../archive/extract.ts';
import { syncDir } from '../io/files.ts';
import { decodeStream } from './codec.ts';
import { slotDigestError, verifyContents } from './deep.ts';
import { isTarChain } from './operations.ts';
import type { PackageReader } from './reader.ts';
import type { PackageSlot } from './pspf.types.ts';
import { evaluateTrust, type PackageTrustOption } from './trust.ts';

/** WORKENV_PLACEHOLDER is the target prefix FlavorPack uses for the package's work environment. */
export const WORKENV_PLACEHOLDER = '{workenv}';

export interface ExtractPackageOptions extends SafeExtractOptions {
  /** trust (required): pinned keys / fingerprints, a trust-root hook, or `{ anySigner: true }` (pkg/trust). */
  trust: PackageTrustOption;
  /** slot selects one slot by index or id; the destination then IS that slot's file or directory. */
  slot?: number | string;
  /** contentsVerified skips the initial deep pass (pkg/verify sets it after running it); re-hashing still happens. */
  contentsVerified?: boolean;
}

/** targetToPath maps a signed slot target to a path relative to the destination ('' for the root). */
export function targetToPath(target: string): string {
  if (target === WORKENV_PLACEHOLDER || target === `${WORKENV_PLACEHOLDER}/`) return '';
  if (target.startsWith(`${WORKENV_PLACEHOLDER}/`)) return target.slice(WORKENV_PLACEHOLDER.length + 1);
  if (target.startsWith('{')) {
    throw new PolicyError('ERR_PKG_PATH_INVALID', `slot target ${JSON.stringify(target)} uses a placeholder other than {workenv}`);
  }
  return target;
}

/**
 * isStoredAsIs says whether a slot has the shape FlavorPack's Python builder gives input that already starts with
 * the gzip magic under a `gzip` operation: it skips compression, stores the input as is and records
 * original_size = the stored size, while its launcher still gunzips the slot on extraction. So for a non-tar
 * `gzip` slot whose original_size equals its stored size, the decoded size is not known in advance (a real
 * `gzip` slot of incompressible data has the same shape and decodes to exactly that size).
 */
export function isStoredAsIs(slot: PackageSlot): boolean {
  return slot.chain.length === 1 && slot.chain[0] === 'GZIP' && slot.originalSize === slot.storedSize;
}

/** findSlot resolves a slot by index (a number or decimal string) or by id; ERR_PKG_SLOT_NOT_FOUND otherwise. */
export function findSlot(reader: PackageReader, which: number | string): PackageSlot {
  const slots = reader.model.slots;
  const byId = slots.find((s) => s.meta.id === which);
  if (byId) return byId;
  const n = typeof which === 'number' ? which : /^(0|[1-9][0-9]{0,5})$/.test(which) ? Number(which) : -1;
  const s = slots[n];
  if (!s) {
    throw new UsageError('ERR_PKG_SLOT_NOT_FOUND', `no slot ${JSON.stringify(which)}; the package has ${slots.map((x) => `${x.index}:${x.meta.id}`).join(', ')}`);
  }
  return s;
}

/**
 * StoredStream yields a slot's stored bytes while hashing them; `finish()` drains what the decoder left unread and
 * checks the digest against the signed metadata.
 */
class StoredStream {
  private pos: number;
  private readonly end: number;
  private readonly reader: PackageReader;
  private readonly slot: PackageSlot;
  private readonly hasher: MultiHasher;
  constructor(reader: PackageReader, slot: PackageSlot, hasher: MultiHasher) {
    this.reader = reader;
    this.slot = slot;
    this.hasher = hasher;
    this.pos = slot.offset;
    this.end = slot.offset + slot.storedSize;
  }

  static async open(reader: PackageReader, slot: PackageSlot): Promise<StoredStream> {
    return new StoredStream(reader, slot, await createMultiHasher(['sha256']));
  }

  async *chunks(): AsyncGenerator<Uint8Array> {
    for await (const c of this.reader.stream(this.pos, this.end - this.pos)) {
      this.hasher.update(c);
      this.pos += c.length;
      yield c;
    }
  }

  async finish(): Promise<void> {
    for await (const _ of this.chunks()) {
      /* drain */
    }
    const got = this.hasher.digest().sha256;
    if (got !== Buffer.from(this.slot.meta.sha256).toString('hex')) throw slotDigestError(this.slot, got);
  }
}

/** extractSlot decodes one slot into the extractor and returns its decoded size. */
async function extractSlot(reader: PackageReader, x: SafeExtractor, slot: PackageSlot, rawPath: string | undefined): Promise<number> {
  const stored = await StoredStream.open(reader, slot);
  const guard = x.budget.guard(slot.storedSize, `slot ${slot.index} (${slot.meta.id})`);
  const decoded = decodeStream(stored.chunks(), slot.chain, {
    guard,
    maxBufferedBytes: reader.limits.maxBufferedSlotBytes,
    what: `slot ${slot.index} (${slot.meta.id})`,
  });
  if (isTarChain(slot.chain)) {
    const base = rawPath === undefined ? '' : x.checkBase(rawPath);
    await x.addTar(decoded, base, slot.index);
  } else {
    const path = rawPath ?? 'content';
    await x.addFile(path, decoded, slot.meta.permissions ?? 0o644, slot.index, slot.originalSize);
  }
  await stored.finish();
  // The reference's stored-as-is gzip slots decode to a size the descriptor does not state (see isStoredAsIs); the
  // guard has capped it (total size, ratio) and the stored bytes matched the signed digest.
  if (guard.total !== slot.originalSize && !isStoredAsIs(slot) && x.failed === undefined) {
    throw new VerificationError(
      'ERR_PKG_SIZE_MISMATCH',
      `slot ${slot.index} (${slot.meta.id}) decodes to ${guard.total} bytes, the slot table says ${slot.originalSize}`,
      { details: { slot: slot.index, decoded: guard.total, declared: slot.originalSize } },
    );
  }
  return guard.total;
}

/**
 * extractPackage writes the package's slots into dest (see the module doc) and returns every entry's verdict.
 * On any refusal nothing exists at dest and the error's details list the refused entries.
 *
 * @example
 * const r = await openPackage('app.psp');
 * try { await extractPackage(r, '/srv/app', { trust: { keys: [pinned] } }); } finally { await r.close(); }
 */
export async function extractPackage(reader: PackageReader, dest: string, options: ExtractPackageOptions): Promise<ExtractResult> {
  // The signer is judged before any slot byte is read or decoded.
  await evaluateTrust(reader.model.signer, options?.trust);
  if (options.contentsVerified !== true) await verifyContents(reader);
  const single = options.slot === undefined ? undefined : findSlot(reader, options.slot);
  const x = await SafeExtractor.create(dest, options);
  try {
    if (single) {
      await extractSlot(reader, x, single, undefined);
      if (!isTarChain(single.chain)) return await commitSingleFile(x, 'content');
    } else {
      for (const slot of reader.model.slots) {
        let rawPath: string;
        try {
          rawPath = targetToPath(slot.meta.target);
        } catch (e) {
          x.throwIfRefused();
          throw e;
        }
        await extractSlot(reader, x, slot, rawPath);
        if (x.failed) break;
      }
    }
    return await x.commit();
  } catch (e) {
    await x.abort();
    throw e;
  }
}

/** commitSingleFile moves one staged file to the destination (never replacing an existing file). */
async function commitSingleFile(x: SafeExtractor, rel: string): Promise<ExtractResult> {
  x.throwIfRefused();
  const dest = x.dest;
  // The file's data is durable before its name appears at dest.
  await x.syncStaged();
  try {
    await fsp.link(join(x.staging, rel), dest);
  } catch (e) {
    throw toIoError(e, dest, 'write');
  }
  await x.abort();
  await syncDir(join(dest, '..'));
  return { root: dest, entries: x.entries, files: 1, directories: 0, links: 0, bytes: (await fsp.stat(dest)).size };
}
