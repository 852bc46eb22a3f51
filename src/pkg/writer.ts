/**
 * pkg/writer — writes PSPF/2025 packages byte-compatible with FlavorPack v0.3.0's reference writer:
 *
 * ```
 * 0                      launcher bytes
 * launcher_size          gzip(metadata JSON)             (metadata_offset = launcher_size)
 * align8(metadata end)   slot table: count × 64-byte descriptors
 * align4096(table end)   slot 0 stored bytes, then each next slot at the next 4,096-byte boundary (zero padding)
 * last slot end          8,200-byte trailer (start magic, index, end magic)
 * ```
 * Index defaults are the reference's (pkg/trailer PSPF_INDEX_DEFAULTS); the signature is Ed25519 over the exact
 * metadata JSON bytes; each slot's metadata carries the full SHA-256 of its stored bytes and the descriptor the
 * reference's truncated checksum.
 *
 * Deterministic: the same inputs, key and `sourceDateEpoch` give the same bytes — tar entries sorted with fixed
 * owner, modes and mtime (archive/tar), gzip headers with mtime 0, metadata key order fixed, build host recorded as
 * "deterministic-build" and the timestamp taken from `sourceDateEpoch` (else the clock, and
 * `build.deterministic` is false). Ed25519 signatures are deterministic (RFC 8032).
 *
 * Trust boundary: inputs are the operator's files. Directories are scanned with archive/extract's path rules, so we
 * never write a package our own extractor would refuse (no links, devices, `..`, case-fold collisions). The output
 * appears atomically (temporary file in the output directory, fsync, rename, directory fsync); slot data is staged
 * in a second temporary file there, removed on every path.
 */
import { constants as fsc, promises as fsp } from 'node:fs';
import { basename, dirname } from 'node:path';
import { createMultiHasher, sha256, type Signer } from '../crypto/index.ts';
import type { JsonObject } from '../encoding/json.ts';
import { IoError, PolicyError, UsageError, toIoError } from '../errors.ts';
import { pathExists, syncDir, tempPath } from '../io/files.ts';
import { checkArchivePath, foldName } from '../archive/extract.ts';
import { scanDirectory, tarDirectory, type ByteSource } from '../archive/tar.ts';
import { encodeStream } from './codec.ts';
import { formatDescriptor, lifecycleCode, nameHash, purposeCode, truncatedDigest, SLOT_DESCRIPTOR_BYTES } from './descriptor.ts';
import { resolvePackageLimits, IO_CHUNK_BYTES, SLOT_ALIGNMENT, type PackageLimits } from './limits.ts';
import { PLACEHOLDER_LAUNCHER, PLACEHOLDER_LAUNCHER_TOOL } from './launcher.ts';
import { compressMetadata, formatDigestRef, formatMetadata, formatPermissions, PSPF_FORMAT_NAME } from './metadata.ts';
import { formatOperations, isTarChain, packOperations, parseOperations, type OpName } from './operations.ts';
import { checkSlotId } from './slot-id.ts';
import { emptyIndex, formatIndex, formatTrailer, INDEX_SIGNATURE_FIELD_BYTES, PSPF_TRAILER_BYTES } from './trailer.ts';
import { CUSTODY_VERSION } from '../version.ts';

/** CUSTODY_TOOL_VERSION is recorded as build.tool_version: Custody's version (src/version.ts). */
const CUSTODY_TOOL_VERSION = CUSTODY_VERSION;

/** SlotSource says where a slot's content comes from. */
export type SlotSource =
  | { kind: 'file'; path: string }
  | { kind: 'directory'; path: string }
  | { kind: 'bytes'; data: Uint8Array }
  /** bytes: in-memory content; with a tar chain the bytes must already be a tar archive. */
  /** stored: bytes already encoded with the slot's operations (re-packing, tests); originalSize is the decoded size. */
  | { kind: 'stored'; data: Uint8Array; originalSize: number };

export interface SlotInput {
  /** id: unique; a file name (pkg/slot-id: 1–255 bytes, no `/`, `\`, `.`/`..`, NUL or control characters). */
  id: string;
  source: SlotSource;
  /** operations: `raw`, `gzip`, `tar`, `tar.gz`, … (default tar.gz for directories, raw otherwise). */
  operations?: string;
  /** purpose: data | code | config | media (default data). */
  purpose?: string;
  /** lifecycle: init | startup | runtime | … (default runtime). */
  lifecycle?: string;
  /** permissions for a file slot (default 0755 if the source file is executable, else none = 0644). */
  permissions?: number | null;
  /** target (default `{workenv}/<id>`; `{workenv}` for a directory unpacked at the root). */
  target?: string;
  /** sourceLabel is recorded as `source` (default `{workenv}/<basename>`). */
  sourceLabel?: string;
}

export interface WritePackageOptions {
  output: string;
  name: string;
  version: string;
  slots: readonly SlotInput[];
  key: Signer;
  /** launcher bytes (default: pkg/launcher's placeholder). */
  launcher?: Uint8Array;
  launcherTool?: string;
  /** command recorded as execution.command (default ""). */
  command?: string;
  /** sourceDateEpoch (seconds) fixes tar mtimes and the build timestamp; without it mtimes are 0. */
  sourceDateEpoch?: number;
  /** now is used for build.timestamp only when sourceDateEpoch is absent. */
  now?: () => Date;
  /** overwrite an existing output (default false: ERR_IO_EXISTS). */
  overwrite?: boolean;
  limits?: Partial<PackageLimits>;
}

/** WrittenSlot describes one slot as written. */
export interface WrittenSlot {
  id: string;
  operations: string;
  offset: number;
  storedSize: number;
  originalSize: number;
  sha256: string;
}

/** WrittenPackage describes the package written. */
export interface WrittenPackage {
  path: string;
  size: number;
  sha256: string;
  publicKey: string;
  slots: WrittenSlot[];
}

const align = (n: number, a: number): number => Math.ceil(n / a) * a;

/** PackageLayout gives where each part of a package goes (the reference writer's rules, see the module doc). */
export interface PackageLayout {
  metadataOffset: number;
  slotTableOffset: number;
  slotTableSize: number;
  slotOffsets: number[];
  trailerOffset: number;
  packageSize: number;
}

/** computeLayout places metadata, slot table, slots and trailer for the given sizes, as FlavorPack v0.3.0 does. */
export function computeLayout(launcherSize: number, metadataSize: number, storedSizes: readonly number[]): PackageLayout {
  const metadataOffset = launcherSize;
  const slotTableOffset = align(metadataOffset + metadataSize, 8);
  const slotTableSize = storedSizes.length * SLOT_DESCRIPTOR_BYTES;
  let end = slotTableOffset + slotTableSize;
  const slotOffsets = storedSizes.map((size) => {
    const at = align(end, SLOT_ALIGNMENT);
    end = at + size;
    return at;
  });
  return { metadataOffset, slotTableOffset, slotTableSize, slotOffsets, trailerOffset: end, packageSize: end + PSPF_TRAILER_BYTES };
}

function platformName(): { os: string; arch: string } {
  const arch: Record<string, string> = { x64: 'amd64', arm64: 'arm64', ia32: '386', arm: 'arm' };
  return { os: process.platform, arch: arch[process.arch] ?? process.arch };
}

/** formatTimestamp renders seconds since the epoch the way the reference does: `2025-01-01T00:00:00+00:00`. */
export function formatTimestamp(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, '+00:00');
}

async function* fileChunks(path: string): AsyncGenerator<Uint8Array> {
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(path, fsc.O_RDONLY | fsc.O_NOFOLLOW);
  } catch (e) {
    throw toIoError(e, path, 'read');
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new IoError('ERR_IO_NOT_REGULAR_FILE', `${path} is not a regular file`);
    let pos = 0;
    for (;;) {
      const buf = Buffer.allocUnsafe(IO_CHUNK_BYTES);
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) break;
      pos += bytesRead;
      yield buf.subarray(0, bytesRead);
    }
  } finally {
    await fh.close();
  }
}

async function* counted(source: ByteSource, box: { n: number }): AsyncGenerator<Uint8Array> {
  for await (const c of source) {
    box.n += c.length;
    yield c;
  }
}

interface PreparedSlot {
  input: SlotInput;
  chain: OpName[];
  purpose: string;
  lifecycle: string;
  permissions: number | null;
  target: string;
  sourceLabel: string;
}

function prepare(s: SlotInput, ids: Set<string>): PreparedSlot {
  // The same rules as the reader's (pkg/slot-id), so we never write a package our reader refuses.
  checkSlotId(s.id, 'pack');
  if (ids.has(s.id)) throw new UsageError('ERR_USAGE_ARGUMENT', `slot id ${JSON.stringify(s.id)} is used twice`);
  ids.add(s.id);
  const isDir = s.source.kind === 'directory';
  const chain = parseOperations(s.operations ?? (isDir ? 'tar.gz' : 'raw'), `slot ${s.id} operations`);
  // A directory is always tarred; a file is never (a `bytes` source with a tar chain IS the tar archive).
  if (isDir && !isTarChain(chain)) throw new UsageError('ERR_USAGE_ARGUMENT', `slot ${s.id}: a directory needs operations starting with tar`);
  if (s.source.kind === 'file' && isTarChain(chain)) {
    throw new UsageError('ERR_USAGE_ARGUMENT', `slot ${s.id}: tar operations need a directory source`);
  }
  const purpose = s.purpose ?? 'data';
  const lifecycle = s.lifecycle ?? 'runtime';
  if (purposeCode(purpose) === undefined) throw new UsageError('ERR_USAGE_ARGUMENT', `slot ${s.id}: unknown purpose ${JSON.stringify(purpose)}`);
  if (lifecycleCode(lifecycle) === undefined) throw new UsageError('ERR_USAGE_ARGUMENT', `slot ${s.id}: unknown lifecycle ${JSON.stringify(lifecycle)}`);
  const permissions = s.permissions ?? null;
  if (permissions !== null && (permissions & ~0o777) !== 0) {
    throw new PolicyError('ERR_PKG_MODE_REFUSED', `slot ${s.id}: permissions ${formatPermissions(permissions)} carry setuid, setgid or sticky bits`);
  }
  const label = 'path' in s.source ? basename(s.source.path) : s.id;
  return {
    input: s,
    chain,
    purpose,
    lifecycle,
    permissions,
    target: s.target ?? `{workenv}/${s.id}`,
    sourceLabel: s.sourceLabel ?? `{workenv}/${label}`,
  };
}

/** SequentialFile wraps a file handle with a position, for sequential writes. */
class SequentialFile {
  pos = 0;
  readonly fh: fsp.FileHandle;
  constructor(fh: fsp.FileHandle) {
    this.fh = fh;
  }
  async write(b: Uint8Array): Promise<void> {
    let off = 0;
    while (off < b.length) {
      const { bytesWritten } = await this.fh.write(b, off, b.length - off, this.pos);
      off += bytesWritten;
      this.pos += bytesWritten;
    }
  }
  async zeros(n: number): Promise<void> {
    if (n > 0) await this.write(new Uint8Array(n));
  }
}

function tmpName(output: string, tag: string): string {
  return tempPath(dirname(output), `${basename(output)}.${tag}`);
}

/** StagedSlot is a slot encoded into the staging body: where it sits relative to the body and what it hashes to. */
interface StagedSlot extends PreparedSlot {
  rel: number;
  storedSize: number;
  originalSize: number;
  digest: Uint8Array;
}

/** checkOptions validates the options (step 0) and returns the prepared slots and the tar mtime. */
async function checkOptions(options: WritePackageOptions, limits: PackageLimits): Promise<{ prepared: PreparedSlot[]; mtime: number }> {
  const ids = new Set<string>();
  const prepared = options.slots.map((s) => prepare(s, ids));
  if (prepared.length > limits.maxSlots) {
    throw new UsageError('ERR_USAGE_ARGUMENT', `expected at most ${limits.maxSlots} slots, got ${prepared.length}`);
  }
  if (options.overwrite !== true) {
    if (await pathExists(options.output)) throw new IoError('ERR_IO_EXISTS', `refusing to overwrite ${options.output}; pass --force to replace it`);
  }
  const mtime = options.sourceDateEpoch ?? 0;
  // tar mtime fields hold 11 octal digits; SOURCE_DATE_EPOCH is whole non-negative seconds.
  if (!Number.isSafeInteger(mtime) || mtime < 0 || mtime > 0o77777777777) {
    throw new UsageError('ERR_USAGE_ARGUMENT', `sourceDateEpoch must be whole seconds in [0, 8^11), got ${mtime}`);
  }
  return { prepared, mtime };
}

/** slotInput opens a slot's source as decoded bytes (a tar stream for directories) and settles file permissions. */
async function slotInput(p: PreparedSlot, mtime: number): Promise<{ input: ByteSource; permissions: number | null }> {
  const src = p.input.source;
  let permissions = p.permissions;
  if (src.kind === 'directory') {
    const folded = new Map<string, string>();
    const entries = await scanDirectory(src.path, {
      checkPath: (path) => {
        checkArchivePath(path);
        const f = foldName(path);
        const other = folded.get(f);
        if (other !== undefined) {
          throw new PolicyError('ERR_PKG_PATH_COLLISION', `${JSON.stringify(path)} and ${JSON.stringify(other)} collide when case is folded`);
        }
        folded.set(f, path);
      },
    });
    return { input: tarDirectory(entries, { mtime }), permissions };
  }
  if (src.kind === 'file') {
    if (permissions === null && p.input.permissions === undefined) {
      const st = await fsp.stat(src.path).catch((e: unknown) => {
        throw toIoError(e, src.path, 'read');
      });
      if ((st.mode & 0o111) !== 0) permissions = 0o755;
    }
    return { input: fileChunks(src.path), permissions };
  }
  if (src.kind === 'bytes') return { input: [src.data], permissions };
  throw new Error('pkg/writer: stored sources have no decoded input');
}

/** stageSlots (step 1) encodes every slot into the staging body, each 4,096-aligned relative to its start. */
async function stageSlots(bw: SequentialFile, prepared: readonly PreparedSlot[], mtime: number, limits: PackageLimits): Promise<StagedSlot[]> {
  const staged: StagedSlot[] = [];
  for (const p of prepared) {
    await bw.zeros(align(bw.pos, SLOT_ALIGNMENT) - bw.pos);
    const rel = bw.pos;
    const box = { n: 0 };
    const src = p.input.source;
    let permissions = p.permissions;
    let stream: ByteSource;
    if (src.kind === 'stored') {
      stream = [src.data];
      box.n = src.originalSize;
    } else {
      const opened = await slotInput(p, mtime);
      permissions = opened.permissions;
      stream = encodeStream(counted(opened.input, box), p.chain, limits.maxBufferedSlotBytes, `slot ${p.input.id}`);
    }
    const h = await createMultiHasher(['sha256']);
    for await (const c of stream) {
      h.update(c);
      await bw.write(c);
    }
    staged.push({ ...p, permissions, rel, storedSize: bw.pos - rel, originalSize: box.n, digest: new Uint8Array(Buffer.from(h.digest().sha256, 'hex')) });
  }
  return staged;
}

/** metadataDocument (step 2) builds the metadata in the reference's fixed key order. */
function metadataDocument(options: WritePackageOptions, staged: readonly StagedSlot[], launcher: Uint8Array): JsonObject {
  const platform = platformName();
  const timestamp = options.sourceDateEpoch !== undefined ? new Date(options.sourceDateEpoch * 1000) : (options.now ?? (() => new Date()))();
  return {
    format: PSPF_FORMAT_NAME,
    format_version: '1.0.0',
    package: { name: options.name, version: options.version },
    slots: staged.map((w, i) => ({
      slot: i,
      id: w.input.id,
      source: w.sourceLabel,
      target: w.target,
      size: w.originalSize,
      checksum: formatDigestRef(w.digest),
      operations: formatOperations(w.chain),
      purpose: w.purpose,
      lifecycle: w.lifecycle,
      permissions: w.permissions === null ? null : formatPermissions(w.permissions),
    })),
    execution: { primary_slot: 0, command: options.command ?? '', env: {} },
    verification: { integrity_seal: { required: true, algorithm: 'ed25519' }, signed: true, require_verification: true },
    build: {
      tool: 'custody',
      tool_version: CUSTODY_TOOL_VERSION,
      deterministic: options.sourceDateEpoch !== undefined,
      platform: { os: platform.os, arch: platform.arch, host: 'deterministic-build' },
      timestamp: formatTimestamp(timestamp),
    },
    launcher: {
      tool: options.launcherTool ?? (options.launcher ? 'custom' : PLACEHOLDER_LAUNCHER_TOOL),
      tool_version: CUSTODY_TOOL_VERSION,
      size: launcher.length,
      checksum: formatDigestRef(sha256(launcher)),
      capabilities: [],
    },
    compatibility: { min_format_version: '1.0.0', features: [] },
  };
}

/** slotTable (step 3) encodes the descriptors for slots placed at `base + rel`. */
function slotTable(staged: readonly StagedSlot[], base: number): Uint8Array {
  const table = new Uint8Array(staged.length * SLOT_DESCRIPTOR_BYTES);
  staged.forEach((w, i) => {
    table.set(
      formatDescriptor({
        id: BigInt(i),
        nameHash: nameHash(w.input.id),
        offset: BigInt(base + w.rel),
        size: BigInt(w.storedSize),
        originalSize: BigInt(w.originalSize),
        operations: packOperations(w.chain),
        checksum: truncatedDigest(w.digest),
        purpose: purposeCode(w.purpose)!,
        lifecycle: lifecycleCode(w.lifecycle)!,
        priority: 1,
        platform: 0,
        reserved1: 0,
        reserved2: 0,
        permissions: w.permissions ?? 0o644,
      }),
      i * SLOT_DESCRIPTOR_BYTES,
    );
  });
  return table;
}

/** trailerBytes (step 3) encodes the index (signature, metadata checksum, layout) inside its magics. */
function trailerBytes(options: WritePackageOptions, lay: PackageLayout, launcherSize: number, gz: Uint8Array, signature: Uint8Array, slotCount: number): Uint8Array {
  const index = emptyIndex();
  index.packageSize = BigInt(lay.packageSize);
  index.launcherSize = BigInt(launcherSize);
  index.metadataOffset = BigInt(lay.metadataOffset);
  index.metadataSize = BigInt(gz.length);
  index.slotTableOffset = BigInt(lay.slotTableOffset);
  index.slotTableSize = BigInt(lay.slotTableSize);
  index.slotCount = slotCount;
  index.publicKey = options.key.publicKey.raw;
  index.metadataChecksum = sha256(gz);
  const sigField = new Uint8Array(INDEX_SIGNATURE_FIELD_BYTES);
  sigField.set(signature, 0);
  index.signatureField = sigField;
  index.buildTimestamp = BigInt(options.sourceDateEpoch ?? 0);
  return formatTrailer(formatIndex(index));
}

/** Parts are the bytes assembled around the staged body. */
interface Parts {
  launcher: Uint8Array;
  gz: Uint8Array;
  table: Uint8Array;
  trailer: Uint8Array;
  lay: PackageLayout;
  base: number;
}

/** assembleFile (step 4) writes the package into out (fsynced) and returns the SHA-256 of what it wrote. */
async function assembleFile(out: fsp.FileHandle, body: fsp.FileHandle, bodyPath: string, bodySize: number, p: Parts): Promise<string> {
  const ow = new SequentialFile(out);
  const fileHash = await createMultiHasher(['sha256']);
  const put = async (b: Uint8Array): Promise<void> => {
    fileHash.update(b);
    await ow.write(b);
  };
  await put(p.launcher);
  await put(p.gz);
  await put(new Uint8Array(p.lay.slotTableOffset - ow.pos));
  await put(p.table);
  if (p.lay.slotOffsets.length > 0) {
    await put(new Uint8Array(p.base - ow.pos));
    let pos = 0;
    const buf = Buffer.allocUnsafe(IO_CHUNK_BYTES);
    while (pos < bodySize) {
      const { bytesRead } = await body.read(buf, 0, Math.min(buf.length, bodySize - pos), pos);
      if (bytesRead === 0) throw new IoError('ERR_IO_READ_FAILED', `${bodyPath} shrank while it was copied`);
      pos += bytesRead;
      await put(buf.subarray(0, bytesRead));
    }
  }
  await put(p.trailer);
  if (ow.pos !== p.lay.packageSize) throw new Error(`pkg/writer: wrote ${ow.pos} bytes, layout says ${p.lay.packageSize}`);
  await out.sync();
  return fileHash.digest().sha256;
}

/** publish (step 5) moves the finished temporary file to output (never replacing unless overwrite) durably. */
async function publish(outPath: string, output: string, overwrite: boolean): Promise<void> {
  try {
    if (overwrite) await fsp.rename(outPath, output);
    else {
      await fsp.link(outPath, output);
      await fsp.unlink(outPath);
    }
  } catch (e) {
    throw toIoError(e, output, 'write');
  }
  await syncDir(dirname(output));
}

async function openExclusive(path: string, flags: number, mode: number): Promise<fsp.FileHandle> {
  try {
    return await fsp.open(path, flags | fsc.O_CREAT | fsc.O_EXCL, mode);
  } catch (e) {
    throw toIoError(e, path, 'write');
  }
}

/**
 * writePackage encodes the slots, signs the metadata and writes the package atomically to options.output, in the
 * steps named above: check the options, stage the slots, build and sign the metadata, lay out the slot table and
 * trailer, assemble the file, publish it.
 *
 * @example
 * await writePackage({ output: 'app.psp', name: 'app', version: '1.0.0', key,
 *   slots: [{ id: 'app', source: { kind: 'directory', path: 'dist' }, target: '{workenv}' }] });
 */
export async function writePackage(options: WritePackageOptions): Promise<WrittenPackage> {
  const limits = resolvePackageLimits(options.limits);
  const { prepared, mtime } = await checkOptions(options, limits);
  const output = options.output;
  const bodyPath = tmpName(output, 'slots');
  const outPath = tmpName(output, 'pspf');
  let body: fsp.FileHandle | undefined;
  let out: fsp.FileHandle | undefined;
  try {
    // 1. Slots, into the staging body.
    body = await openExclusive(bodyPath, fsc.O_RDWR, 0o600);
    const bw = new SequentialFile(body);
    const staged = await stageSlots(bw, prepared, mtime, limits);
    // 2. Metadata: fixed key order, signed as the exact bytes, then gzip'd.
    const launcher = options.launcher ?? PLACEHOLDER_LAUNCHER;
    const json = formatMetadata(metadataDocument(options, staged, launcher));
    const signature = options.key.sign(json);
    const gz = compressMetadata(json);
    // 3. Layout. The body was written with the same 4,096-byte alignment relative to a 4,096-aligned base.
    const lay = computeLayout(launcher.length, gz.length, staged.map((w) => w.storedSize));
    const base = staged.length === 0 ? lay.trailerOffset : lay.slotOffsets[0]!;
    staged.forEach((w, i) => {
      if (lay.slotOffsets[i] !== base + w.rel) throw new Error('pkg/writer: slot layout disagrees with the staged body');
    });
    const parts: Parts = {
      launcher,
      gz,
      table: slotTable(staged, base),
      trailer: trailerBytes(options, lay, launcher.length, gz, signature, staged.length),
      lay,
      base,
    };
    // 4. Assemble into the output's temporary file, hashing what we write; 5. publish it.
    out = await openExclusive(outPath, fsc.O_WRONLY, 0o644);
    const fileSha256 = await assembleFile(out, body, bodyPath, bw.pos, parts);
    await out.close();
    out = undefined;
    await publish(outPath, output, options.overwrite === true);
    return {
      path: output,
      size: lay.packageSize,
      sha256: fileSha256,
      publicKey: options.key.publicKey.hex,
      slots: staged.map((w) => ({
        id: w.input.id,
        operations: formatOperations(w.chain),
        offset: base + w.rel,
        storedSize: w.storedSize,
        originalSize: w.originalSize,
        sha256: Buffer.from(w.digest).toString('hex'),
      })),
    };
  } finally {
    await body?.close().catch(() => undefined);
    await out?.close().catch(() => undefined);
    await fsp.unlink(bodyPath).catch(() => undefined);
    await fsp.unlink(outPath).catch(() => undefined);
  }
}
