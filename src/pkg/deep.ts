/**
 * pkg/deep — the DEEP verification of a PSPF/2025 package (FlavorPack v0.3.0 layout): every byte before the
 * trailer is read once, in file order, and
 * - the launcher must hash to the SHA-256 in the signed metadata (ERR_PKG_LAUNCHER_DIGEST_MISMATCH) — the
 *   reference never checks the launcher, which is the code that runs;
 * - each slot's stored bytes must hash to the full SHA-256 in the signed metadata (ERR_PKG_SLOT_DIGEST_MISMATCH) —
 *   the reference only compares the UNSIGNED 8-byte descriptor checksum, so slot bytes plus that checksum can be
 *   swapped (vector T08); here the descriptor checksum is reported but never decides;
 * - each slot must start the way its outermost operation says (gzip/bzip2/xz/zstd magic, or a ustar header for an
 *   uncompressed tar) (ERR_PKG_OPERATIONS_MISMATCH);
 * - bytes not covered by any region (alignment padding) must be zero, so nothing unsigned hides in the file
 *   (ERR_PKG_LAYOUT).
 *
 * Trust boundary: called on a PackageReader whose metadata signature already verified; after this, every stored
 * byte of the package is bound to the signature.
 */
import { constantTimeEqual, createMultiHasher } from '../crypto/index.ts';
import { FormatError, VerificationError } from '../errors.ts';
import { sniffMatches } from './codec.ts';
import { truncatedDigest } from './descriptor.ts';
import { formatOperations } from './operations.ts';
import type { PackageReader } from './reader.ts';
import type { PackageSlot, SlotReport } from './pspf.types.ts';
import { PSPF_TRAILER_BYTES } from './trailer.ts';

/** SNIFF_BYTES: enough of a slot's head to recognise a compression magic or a ustar header. */
const SNIFF_BYTES = 512;

/** ContentsReport is what deep verification established. */
export interface ContentsReport {
  launcherVerified: true;
  slots: SlotReport[];
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

/** slotDigestError builds the error for a slot whose bytes do not match the signed digest. */
export function slotDigestError(slot: PackageSlot, got: string): VerificationError {
  return new VerificationError(
    'ERR_PKG_SLOT_DIGEST_MISMATCH',
    `slot ${slot.index} (${slot.meta.id}): stored bytes hash to sha256:${got}, the signed metadata says sha256:${hex(slot.meta.sha256)}`,
    { details: { slot: slot.index, id: slot.meta.id, expected: hex(slot.meta.sha256), got } },
  );
}

async function hashRange(reader: PackageReader, start: number, end: number): Promise<{ digest: Uint8Array; head: Uint8Array }> {
  const h = await createMultiHasher(['sha256']);
  let head = new Uint8Array(0);
  for await (const chunk of reader.stream(start, end - start)) {
    if (head.length < SNIFF_BYTES) head = Buffer.concat([head, chunk.subarray(0, SNIFF_BYTES - head.length)]);
    h.update(chunk);
  }
  return { digest: new Uint8Array(Buffer.from(h.digest().sha256, 'hex')), head };
}

async function checkZero(reader: PackageReader, start: number, end: number): Promise<void> {
  for await (const chunk of reader.stream(start, end - start)) {
    const at = chunk.findIndex((b) => b !== 0);
    if (at >= 0) {
      throw new FormatError('ERR_PKG_LAYOUT', `non-zero byte in unsigned padding at offset ${start + at} (padding [${start}, ${end}) must be zero)`, {
        details: { offset: start + at },
      });
    }
    start += chunk.length;
  }
}

/** verifyContents performs the deep checks of the module doc and returns per-slot reports. */
export async function verifyContents(reader: PackageReader): Promise<ContentsReport> {
  const m = reader.model;
  const reports = new Map<number, SlotReport>();
  const trailerStart = m.fileSize - PSPF_TRAILER_BYTES;
  let pos = 0;
  const check = (slot: PackageSlot, digest: Uint8Array, head: Uint8Array): void => {
    const got = hex(digest);
    if (!constantTimeEqual(digest, slot.meta.sha256)) throw slotDigestError(slot, got);
    if (!sniffMatches(head, slot.chain)) {
      throw new VerificationError(
        'ERR_PKG_OPERATIONS_MISMATCH',
        `slot ${slot.index} (${slot.meta.id}): stored bytes do not start like ${formatOperations(slot.chain)} data`,
        { details: { slot: slot.index, head: hex(head.subarray(0, 16)) } },
      );
    }
    slot.descriptorChecksumMatches = truncatedDigest(digest) === slot.descriptor.checksum;
    reports.set(slot.index, {
      index: slot.index,
      id: slot.meta.id,
      operations: formatOperations(slot.chain),
      storedSize: slot.storedSize,
      originalSize: slot.originalSize,
      sha256: got,
      digestVerified: true,
      descriptorChecksumMatches: slot.descriptorChecksumMatches,
      decodedSize: undefined,
    });
  };
  for (const r of reader.regions()) {
    if (r.start > pos) await checkZero(reader, pos, r.start);
    if (r.what === 'launcher') {
      const { digest } = await hashRange(reader, r.start, r.end);
      if (!constantTimeEqual(digest, m.metadata.launcher.sha256)) {
        throw new VerificationError(
          'ERR_PKG_LAUNCHER_DIGEST_MISMATCH',
          `launcher hashes to sha256:${hex(digest)}, the signed metadata says sha256:${hex(m.metadata.launcher.sha256)}`,
          { details: { expected: hex(m.metadata.launcher.sha256), got: hex(digest) } },
        );
      }
    } else if (r.slot !== undefined) {
      const slot = m.slots[r.slot]!;
      const { digest, head } = await hashRange(reader, r.start, r.end);
      check(slot, digest, head);
    }
    pos = Math.max(pos, r.end);
  }
  if (pos < trailerStart) await checkZero(reader, pos, trailerStart);
  // Empty regions are not in the region list: an empty launcher or slot must still match its signed digest.
  if (m.launcherSize === 0) {
    const { digest } = await hashRange(reader, 0, 0);
    if (!constantTimeEqual(digest, m.metadata.launcher.sha256)) {
      throw new VerificationError('ERR_PKG_LAUNCHER_DIGEST_MISMATCH', 'the empty launcher does not match the signed digest');
    }
  }
  for (const s of m.slots) {
    if (s.storedSize === 0) {
      const { digest, head } = await hashRange(reader, s.offset, s.offset);
      check(s, digest, head);
    }
  }
  return { launcherVerified: true, slots: m.slots.map((s) => reports.get(s.index)!) };
}
