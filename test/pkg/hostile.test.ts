/**
 * Hostile packages: one row per attack. Each row is run through
 * `custody extract PKG OUT` and `custody verify PKG --paranoid` (CLI, in-process) and through
 * `verifyPackageFile(…, { level: 'paranoid' })`; all must refuse with the row's code, and afterwards the directory
 * holds exactly what it held before: nothing was written, no temporary directory was left behind.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import compressjs from 'compressjs';
import { PublicKey, sha256 } from '../../src/crypto/index.ts';
import { ERROR_CODES, EXIT_CODES, type ErrorCode } from '../../src/errors.ts';
import { encodeTar, type TarEntryInput } from '../../src/archive/tar.ts';
import type { SafeExtractOptions } from '../../src/archive/extract.ts';
import { isPspfFile, packOperations, verifyPackageFile, type PspfIndex } from '../../src/pkg/index.ts';
import { assertRejectsCode } from '../support/assert.ts';
import { cli } from '../support/cli.ts';
import { listTree, tmpDir } from '../support/tmp.ts';
import { assemble, ATTACKER, indexOf, SEED_KEY, SEED_PUBLIC_HEX, slotOffset, verifyCli, withDescriptor, withIndex, type PartSlot } from './helpers.ts';

const enc = new TextEncoder();
const HELLO = enc.encode('hello, world\n');
const GOOD_TAR = encodeTar([
  { path: 'bin', type: 'directory' },
  { path: 'bin/run.sh', type: 'file', mode: 0o755, data: enc.encode('#!/bin/sh\necho ok\n') },
  { path: 'etc/app.conf', type: 'file', data: enc.encode('k=v\n') },
]);

function tarSlot(entries: TarEntryInput[], extra: Partial<PartSlot> = {}): PartSlot {
  const tar = encodeTar(entries);
  return { id: 'evil', stored: gzipSync(tar), operations: 'tar.gz', originalSize: tar.length, target: '{workenv}', ...extra };
}

const baseSlots = (): PartSlot[] => [
  { id: 'hello', stored: HELLO, target: '{workenv}/hello.txt' },
  { id: 'tree', stored: gzipSync(GOOD_TAR), operations: 'tar.gz', originalSize: GOOD_TAR.length, target: '{workenv}/tree' },
];
const base = (): Uint8Array => assemble({ slots: baseSlots() });
const tarPkg = (entries: TarEntryInput[], extra: Partial<PartSlot> = {}): Uint8Array => assemble({ slots: [tarSlot(entries, extra)] });

function flip(bytes: Uint8Array, at: number): Uint8Array {
  const out = Uint8Array.from(bytes);
  out[at] = out[at]! ^ 0x01;
  return out;
}

function metadataOffset(bytes: Uint8Array): number {
  return Number(indexOf(bytes).metadataOffset);
}

/** fakeXz builds a well-formed .xz container whose LZMA2 chunk headers claim `chunks` × 2 MiB (data is junk). */
function fakeXz(chunks: number): Uint8Array {
  const out: number[] = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0x00, 0x01, 0, 0, 0, 0];
  out.push(0x02, 0x00, 0x21, 0x01, 0x16, 0x00, 0x00, 0x00, 0, 0, 0, 0);
  const u = 2 * 1024 * 1024 - 1;
  for (let i = 0; i < chunks; i++) {
    out.push((i === 0 ? 0xe0 : 0x80) | (u >> 16), (u >> 8) & 0xff, u & 0xff, 0x00, 0x00);
    if (i === 0) out.push(0x5d);
    out.push(0x42);
  }
  out.push(0x00);
  while (out.length % 4 !== 0) out.push(0);
  out.push(0, 0, 0, 0); // CRC32 check
  const vli = (v: number): number[] => {
    const b: number[] = [];
    while (v >= 0x80) {
      b.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    b.push(v);
    return b;
  };
  const indexStart = out.length;
  out.push(0x00, ...vli(1), ...vli(100), ...vli(chunks * (u + 1)));
  while ((out.length - indexStart) % 4 !== 0) out.push(0);
  out.push(0, 0, 0, 0); // index CRC32
  out.push(0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x01, 0x59, 0x5a); // footer: CRC32, backward size, flags, "YZ"
  return Uint8Array.from(out);
}

interface Row {
  name: string;
  bytes: () => Uint8Array;
  code: ErrorCode;
  /** argv for the CLI run (besides PKG OUT); undefined skips the CLI run (API-only options). */
  argv?: string[];
  /** options for the API paranoid run. */
  options?: SafeExtractOptions;
  trusted?: string;
}

const ROWS: Row[] = [
  // --- bytes altered after signing ---
  { name: 'slot bytes altered', bytes: () => flip(base(), slotOffset(base(), 0) + 3), code: 'ERR_PKG_SLOT_DIGEST_MISMATCH' },
  {
    name: 'slot bytes altered and the unsigned descriptor checksum updated (T08)',
    bytes: () => {
      const b = flip(base(), slotOffset(base(), 0) + 3);
      const stored = b.subarray(slotOffset(b, 0), slotOffset(b, 0) + HELLO.length);
      return withDescriptor(b, 0, (d) => (d.checksum = Buffer.from(sha256(stored)).readBigUInt64LE(0)));
    },
    code: 'ERR_PKG_SLOT_DIGEST_MISMATCH',
  },
  { name: 'launcher altered', bytes: () => flip(base(), 20), code: 'ERR_PKG_LAUNCHER_DIGEST_MISMATCH' },
  { name: 'compressed metadata altered', bytes: () => flip(base(), metadataOffset(base()) + 30), code: 'ERR_PKG_METADATA_CHECKSUM' },
  {
    name: 'metadata JSON altered and re-gzipped, index fixed, old signature kept',
    bytes: () => {
      const good = enc.encode(JSON.stringify({ a: 1 }));
      const sig = SEED_KEY.sign(good);
      return assemble({ slots: baseSlots(), editDoc: (d: { package: { version: string } }) => (d.package.version = '6.6.6'), signature: sig });
    },
    code: 'ERR_PKG_SIGNATURE_INVALID',
  },
  { name: 'signature altered', bytes: () => withIndex(base(), (i) => (i.signatureField[5] = i.signatureField[5]! ^ 0x80)), code: 'ERR_PKG_SIGNATURE_INVALID' },
  { name: 'signature zeroed', bytes: () => withIndex(base(), (i) => i.signatureField.fill(0)), code: 'ERR_PKG_UNSIGNED' },
  { name: 'public key zeroed', bytes: () => withIndex(base(), (i) => i.publicKey.fill(0)), code: 'ERR_PKG_UNSIGNED' },
  { name: 'signature padding not zero', bytes: () => withIndex(base(), (i) => (i.signatureField[300] = 1)), code: 'ERR_PKG_SIGNATURE_INVALID' },
  {
    name: 'public key swapped for another valid key',
    bytes: () => withIndex(base(), (i) => (i.publicKey = ATTACKER.publicKey.raw)),
    code: 'ERR_PKG_SIGNATURE_INVALID',
  },
  {
    name: 're-signed by another key (content swapped), --trusted-key pins the real signer',
    bytes: () => assemble({ key: ATTACKER, slots: [{ id: 'hello', stored: enc.encode('evil\n'), target: '{workenv}/hello.txt' }] }),
    code: 'ERR_PKG_UNTRUSTED_SIGNER',
    trusted: SEED_PUBLIC_HEX,
  },
  // --- index and trailer ---
  { name: 'index field altered, checksum stale', bytes: () => withIndex(base(), (i) => (i.buildTimestamp = 1n), true), code: 'ERR_PKG_INDEX_CHECKSUM' },
  { name: 'zero index checksum ("off" in the reference)', bytes: () => withIndex(base(), (i) => (i.indexChecksum = 0), true), code: 'ERR_PKG_INDEX_CHECKSUM' },
  { name: 'index: format version', bytes: () => withIndex(base(), (i) => (i.formatVersion = 0x20260001)), code: 'ERR_PKG_VERSION_UNSUPPORTED' },
  { name: 'end magic altered', bytes: () => flip(base(), base().length - 1), code: 'ERR_PKG_MAGIC' },
  { name: 'start magic altered', bytes: () => flip(base(), base().length - 8200), code: 'ERR_PKG_MAGIC' },
  { name: 'truncated tail', bytes: () => base().subarray(0, base().length - 100), code: 'ERR_PKG_MAGIC' },
  { name: 'truncated to 100 bytes', bytes: () => base().subarray(0, 100), code: 'ERR_PKG_TRUNCATED' },
  {
    name: 'bytes cut from the middle (index says longer)',
    bytes: () => {
      const b = base();
      return Buffer.concat([b.subarray(0, 4096), b.subarray(8192)]);
    },
    code: 'ERR_PKG_TRUNCATED',
  },
  {
    name: 'bytes inserted before the trailer (index says shorter)',
    bytes: () => {
      const b = base();
      return Buffer.concat([b.subarray(0, b.length - 8200), new Uint8Array(10), b.subarray(b.length - 8200)]);
    },
    code: 'ERR_PKG_LAYOUT',
  },
  // --- lying sizes and offsets (unsigned slot table) ---
  { name: 'descriptor size runs past the trailer', bytes: () => withDescriptor(base(), 1, (d) => (d.size = 1n << 30n)), code: 'ERR_PKG_LAYOUT' },
  { name: 'descriptor offset = 2^64-1', bytes: () => withDescriptor(base(), 0, (d) => (d.offset = (1n << 64n) - 1n)), code: 'ERR_PKG_LAYOUT' },
  {
    name: 'overlapping slots',
    bytes: () => withDescriptor(base(), 1, (d) => (d.offset = BigInt(slotOffset(base(), 0)))),
    code: 'ERR_PKG_SLOT_OVERLAP',
  },
  {
    name: 'slot overlapping the metadata',
    bytes: () => withDescriptor(base(), 0, (d) => (d.offset = BigInt(metadataOffset(base())))),
    code: 'ERR_PKG_SLOT_OVERLAP',
  },
  {
    name: 'slot count over the cap',
    bytes: () =>
      withIndex(base(), (i: PspfIndex) => {
        i.slotCount = 70000;
        i.slotTableSize = 70000n * 64n;
      }),
    code: 'ERR_PKG_SLOT_LIMIT',
  },
  {
    name: 'lying original_size (tar slot)',
    bytes: () => assemble({ slots: [tarSlot([{ path: 'a.txt', type: 'file', data: HELLO }], { originalSize: 999 })] }),
    code: 'ERR_PKG_SIZE_MISMATCH',
  },
  { name: 'lying signed size (raw slot)', bytes: () => assemble({ slots: [{ id: 'hello', stored: HELLO, size: 99 }] }), code: 'ERR_PKG_SIZE_MISMATCH' },
  {
    name: 'lying signed launcher size',
    bytes: () => assemble({ slots: baseSlots(), editDoc: (d: { launcher: { size: number } }) => (d.launcher.size += 1) }),
    code: 'ERR_PKG_SIZE_MISMATCH',
  },
  {
    name: 'non-zero byte in unsigned padding',
    bytes: () => {
      const b = base();
      const out = Uint8Array.from(b);
      out[slotOffset(b, 0) + HELLO.length + 10] = 0x41;
      return out;
    },
    code: 'ERR_PKG_LAYOUT',
  },
  // --- the unsigned slot table disagrees with the signed metadata ---
  {
    name: 'descriptor operations altered (raw → gzip)',
    bytes: () => withDescriptor(base(), 0, (d) => (d.operations = packOperations(['GZIP']))),
    code: 'ERR_PKG_OPERATIONS_MISMATCH',
  },
  { name: 'descriptor purpose altered', bytes: () => withDescriptor(base(), 0, (d) => (d.purpose = 1)), code: 'ERR_PKG_DESCRIPTOR_MISMATCH' },
  { name: 'descriptor id altered', bytes: () => withDescriptor(base(), 1, (d) => (d.id = 0n)), code: 'ERR_PKG_DESCRIPTOR_MISMATCH' },
  {
    name: 'signed operations inconsistent with content (gzip declared, plain bytes)',
    bytes: () => assemble({ slots: [{ id: 'x', stored: HELLO, operations: 'gzip', originalSize: 13, size: 13 }] }),
    code: 'ERR_PKG_OPERATIONS_MISMATCH',
  },
  {
    name: 'zstd slot',
    bytes: () => assemble({ slots: [{ id: 'z', stored: Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3), operations: 'zstd', originalSize: 3 }] }),
    code: 'ERR_PKG_OPERATION_UNSUPPORTED',
  },
  // --- metadata bombs ---
  {
    name: 'metadata gzip bomb (64 MiB of spaces)',
    bytes: () => assemble({ slots: baseSlots(), gz: gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x20), { level: 9 }) }),
    code: 'ERR_PKG_METADATA_LIMIT',
  },
  {
    name: 'metadata nested 10,000 deep',
    bytes: () => assemble({ slots: [], json: enc.encode('['.repeat(10000) + ']'.repeat(10000)) }),
    code: 'ERR_PKG_METADATA_LIMIT',
  },
  { name: 'metadata not JSON', bytes: () => assemble({ slots: [], json: enc.encode('{"format": "PSPF/2025",') }), code: 'ERR_PKG_METADATA_FORMAT' },
  {
    name: 'metadata duplicate key',
    bytes: () => assemble({ slots: [], json: enc.encode('{"format":"PSPF/2025","format":"PSPF/2025"}') }),
    code: 'ERR_PKG_METADATA_FORMAT',
  },
  // --- slot targets ---
  { name: 'slot target with ..', bytes: () => assemble({ slots: [{ id: 'h', stored: HELLO, target: '{workenv}/../escape.txt' }] }), code: 'ERR_PKG_PATH_ESCAPE' },
  { name: 'absolute slot target', bytes: () => assemble({ slots: [{ id: 'h', stored: HELLO, target: '/tmp/custody-escape.txt' }] }), code: 'ERR_PKG_PATH_ESCAPE' },
  { name: 'unknown target placeholder', bytes: () => assemble({ slots: [{ id: 'h', stored: HELLO, target: '{home}/.bashrc' }] }), code: 'ERR_PKG_PATH_INVALID' },
  {
    name: 'two slots, one target',
    bytes: () =>
      assemble({
        slots: [
          { id: 'a', stored: HELLO, target: '{workenv}/x' },
          { id: 'b', stored: HELLO, target: '{workenv}/x' },
        ],
      }),
    code: 'ERR_PKG_PATH_COLLISION',
  },
  {
    name: 'tar slot over a file slot (file vs directory)',
    bytes: () =>
      assemble({
        slots: [{ id: 'a', stored: HELLO, target: '{workenv}/x' }, tarSlot([{ path: 'x/y', type: 'file', data: HELLO }])],
      }),
    code: 'ERR_PKG_PATH_COLLISION',
  },
  // --- tar entries ---
  { name: 'tar: .. entry', bytes: () => tarPkg([{ path: '../../evil.sh', type: 'file', data: HELLO }]), code: 'ERR_PKG_PATH_ESCAPE' },
  { name: 'tar: .. inside a path', bytes: () => tarPkg([{ path: 'a/../../evil', type: 'file', data: HELLO }]), code: 'ERR_PKG_PATH_ESCAPE' },
  { name: 'tar: absolute path', bytes: () => tarPkg([{ path: '/etc/cron.d/evil', type: 'file', data: HELLO }]), code: 'ERR_PKG_PATH_ESCAPE' },
  { name: 'tar: absolute path via pax', bytes: () => tarPkg([{ path: '/' + 'a'.repeat(200), type: 'file', data: HELLO }]), code: 'ERR_PKG_PATH_ESCAPE' },
  { name: 'tar: symlink (links refused by default)', bytes: () => tarPkg([{ path: 'l', type: 'symlink', linkpath: 'target' }]), code: 'ERR_PKG_LINK_REFUSED' },
  {
    name: 'tar: symlink escape (--allow-links)',
    bytes: () => tarPkg([{ path: 'l', type: 'symlink', linkpath: '../../../etc' }]),
    code: 'ERR_PKG_PATH_ESCAPE',
    argv: ['--allow-links'],
    options: { allowLinks: true },
  },
  {
    name: 'tar: absolute symlink (--allow-links)',
    bytes: () => tarPkg([{ path: 'l', type: 'symlink', linkpath: '/etc/passwd' }]),
    code: 'ERR_PKG_PATH_ESCAPE',
    argv: ['--allow-links'],
    options: { allowLinks: true },
  },
  {
    name: 'tar: chained symlinks d -> . and l -> d/../x (--allow-links)',
    bytes: () =>
      tarPkg([
        { path: 'd', type: 'symlink', linkpath: '.' },
        { path: 'l', type: 'symlink', linkpath: 'd/../x' },
      ]),
    code: 'ERR_PKG_PATH_ESCAPE',
    argv: ['--allow-links'],
    options: { allowLinks: true },
  },
  {
    name: 'tar: file written through a symlink (--allow-links)',
    bytes: () =>
      tarPkg([
        { path: 'sub', type: 'directory' },
        { path: 'd', type: 'symlink', linkpath: 'sub' },
        { path: 'd/x', type: 'file', data: HELLO },
      ]),
    code: 'ERR_PKG_PATH_ESCAPE',
    argv: ['--allow-links'],
    options: { allowLinks: true },
  },
  { name: 'tar: hardlink (links refused by default)', bytes: () => tarPkg([{ path: 'h', type: 'hardlink', linkpath: 'x' }]), code: 'ERR_PKG_LINK_REFUSED' },
  {
    name: 'tar: hardlink escape (--allow-links)',
    bytes: () => tarPkg([{ path: 'h', type: 'hardlink', linkpath: '../../../etc/passwd' }]),
    code: 'ERR_PKG_PATH_ESCAPE',
    argv: ['--allow-links'],
    options: { allowLinks: true },
  },
  {
    name: 'tar: hardlink to a file not in the archive (--allow-links)',
    bytes: () => tarPkg([{ path: 'h', type: 'hardlink', linkpath: 'etc/shadow' }]),
    code: 'ERR_PKG_PATH_ESCAPE',
    argv: ['--allow-links'],
    options: { allowLinks: true },
  },
  { name: 'tar: character device', bytes: () => tarPkg([{ path: 'null', type: 'char-device', devmajor: 1, devminor: 3 }]), code: 'ERR_PKG_SPECIAL_FILE' },
  { name: 'tar: block device', bytes: () => tarPkg([{ path: 'sda', type: 'block-device', devmajor: 8 }]), code: 'ERR_PKG_SPECIAL_FILE' },
  { name: 'tar: fifo', bytes: () => tarPkg([{ path: 'pipe', type: 'fifo' }]), code: 'ERR_PKG_SPECIAL_FILE' },
  { name: 'tar: setuid file', bytes: () => tarPkg([{ path: 'su', type: 'file', mode: 0o4755, data: HELLO }]), code: 'ERR_PKG_MODE_REFUSED' },
  { name: 'tar: setgid file', bytes: () => tarPkg([{ path: 'sg', type: 'file', mode: 0o2755, data: HELLO }]), code: 'ERR_PKG_MODE_REFUSED' },
  { name: 'tar: sticky directory', bytes: () => tarPkg([{ path: 'tmp', type: 'directory', mode: 0o1777 }]), code: 'ERR_PKG_MODE_REFUSED' },
  {
    name: 'raw slot with setuid permissions',
    bytes: () => assemble({ slots: [{ id: 'su', stored: HELLO, permissions: '4755' }] }),
    code: 'ERR_PKG_MODE_REFUSED',
  },
  {
    name: 'tar: duplicate names',
    bytes: () =>
      tarPkg([
        { path: 'a.txt', type: 'file', data: HELLO },
        { path: 'a.txt', type: 'file', data: enc.encode('second') },
      ]),
    code: 'ERR_PKG_PATH_COLLISION',
  },
  {
    name: 'tar: case-fold collision',
    bytes: () =>
      tarPkg([
        { path: 'README', type: 'file', data: HELLO },
        { path: 'readme', type: 'file', data: HELLO },
      ]),
    code: 'ERR_PKG_PATH_COLLISION',
  },
  {
    name: 'tar: case-fold collision of a parent directory',
    bytes: () =>
      tarPkg([
        { path: 'Bin/a', type: 'file', data: HELLO },
        { path: 'bin/b', type: 'file', data: HELLO },
      ]),
    code: 'ERR_PKG_PATH_COLLISION',
  },
  {
    name: 'tar: file, then a directory of the same name',
    bytes: () =>
      tarPkg([
        { path: 'x', type: 'file', data: HELLO },
        { path: 'x/y', type: 'file', data: HELLO },
      ]),
    code: 'ERR_PKG_PATH_COLLISION',
  },
  { name: 'tar: backslash in a name', bytes: () => tarPkg([{ path: '..\\..\\evil', type: 'file', data: HELLO }]), code: 'ERR_PKG_PATH_INVALID' },
  { name: 'tar: control character in a name', bytes: () => tarPkg([{ path: 'a\x1b[2Jb', type: 'file', data: HELLO }]), code: 'ERR_PKG_PATH_INVALID' },
  // --- bombs and caps ---
  {
    name: 'tar: size bomb (an entry declares 9 GiB)',
    bytes: () => tarPkg([{ path: 'big', type: 'file', size: 9 * 1024 ** 3 }]),
    code: 'ERR_PKG_SIZE_LIMIT',
  },
  {
    name: 'tar: size bomb under a 1 MiB cap',
    bytes: () => tarPkg([{ path: 'a', type: 'file', data: new Uint8Array(2 * 1024 * 1024) }]),
    code: 'ERR_PKG_SIZE_LIMIT',
    options: { limits: { maxTotalBytes: 1024 * 1024 } },
  },
  {
    name: 'gzip ratio bomb (8 MiB of zeros, ratio cap 100)',
    bytes: () => tarPkg([{ path: 'zeros', type: 'file', data: new Uint8Array(8 * 1024 * 1024) }]),
    code: 'ERR_PKG_RATIO_LIMIT',
    options: { limits: { maxRatio: 100 } },
  },
  {
    name: 'bzip2 ratio bomb (8 MiB of zeros in 48 bytes)',
    bytes: () => {
      const data = new Uint8Array(8 * 1024 * 1024);
      return assemble({ slots: [{ id: 'b', stored: Uint8Array.from(compressjs.Bzip2.compressFile(data, undefined, 9)), operations: 'bzip2', originalSize: data.length }] });
    },
    code: 'ERR_PKG_RATIO_LIMIT',
  },
  {
    name: 'xz bomb (chunk headers claim 64 MiB from a few hundred bytes; refused before inflating)',
    bytes: () => assemble({ slots: [{ id: 'x', stored: fakeXz(32), operations: 'xz', originalSize: 64 * 1024 * 1024 }] }),
    code: 'ERR_PKG_RATIO_LIMIT',
  },
  {
    name: 'tar: too many entries',
    bytes: () => tarPkg(Array.from({ length: 20 }, (_, i) => ({ path: `f${i}`, type: 'file' as const, data: HELLO }))),
    code: 'ERR_PKG_ENTRY_LIMIT',
    options: { limits: { maxEntries: 10 } },
  },
  // --- malformed streams ---
  {
    name: 'corrupt gzip stream',
    bytes: () => {
      const gz = Uint8Array.from(gzipSync(GOOD_TAR));
      gz[20] = gz[20]! ^ 0xff;
      return assemble({ slots: [{ id: 't', stored: gz, operations: 'tar.gz', originalSize: GOOD_TAR.length }] });
    },
    code: 'ERR_PKG_ARCHIVE_FORMAT',
  },
  {
    name: 'tar: header checksum wrong',
    bytes: () => {
      const tar = Uint8Array.from(GOOD_TAR);
      tar[0] = 0x58;
      return assemble({ slots: [{ id: 't', stored: tar, operations: 'tar', originalSize: tar.length }] });
    },
    code: 'ERR_PKG_ARCHIVE_FORMAT',
  },
  {
    name: 'tar: no end-of-archive marker',
    bytes: () => {
      const tar = GOOD_TAR.subarray(0, 512 * 3);
      return assemble({ slots: [{ id: 't', stored: gzipSync(tar), operations: 'tar.gz', originalSize: tar.length }] });
    },
    code: 'ERR_PKG_ARCHIVE_FORMAT',
  },
  {
    name: 'tar: junk after the end-of-archive marker',
    bytes: () => {
      const tar = Buffer.concat([GOOD_TAR, enc.encode('junk')]);
      return assemble({ slots: [{ id: 't', stored: gzipSync(tar), operations: 'tar.gz', originalSize: tar.length }] });
    },
    code: 'ERR_PKG_ARCHIVE_FORMAT',
  },
];

test(`hostile table has ≥ 25 rows (${ROWS.length})`, () => {
  assert.ok(ROWS.length >= 25);
  assert.equal(new Set(ROWS.map((r) => r.name)).size, ROWS.length);
});

for (const row of ROWS) {
  test(`hostile: ${row.name} → ${row.code}, nothing written`, async (t) => {
    const dir = tmpDir(t);
    const pkg = join(dir, 'pkg.psp');
    writeFileSync(pkg, row.bytes());
    mkdirSync(join(dir, 'scratch'));
    const before = listTree(dir);
    if (row.options === undefined || row.argv !== undefined) {
      const trustArgv = row.trusted ? ['--trusted-key', row.trusted] : ['--allow-any-signer'];
      const argv = ['extract', pkg, join(dir, 'out'), ...(row.argv ?? []), ...trustArgv];
      const r = await cli(argv, { cwd: dir });
      assert.equal(r.code, EXIT_CODES[ERROR_CODES[row.code][0]], r.stderr);
      assert.match(r.stderr, new RegExp(`^custody: error: .*\\[${row.code}\\]$`, 'm'));
      assert.equal(r.stdout, '');
      assert.deepEqual(listTree(dir), before, 'extract wrote nothing');
      // `custody verify` reaches the package verifier whenever the end magic survived.
      if (await isPspfFile(pkg)) {
        const v = await verifyCli([pkg, '--paranoid', ...(row.argv ?? []), ...trustArgv], { cwd: dir });
        assert.equal(v.code, EXIT_CODES[ERROR_CODES[row.code][0]], v.stderr);
        assert.match(v.stderr, new RegExp(`\\[${row.code}\\]$`, 'm'));
      }
    }
    await assertRejectsCode(
      verifyPackageFile(pkg, {
        level: 'paranoid',
        scratchDir: join(dir, 'scratch'),
        ...(row.options ? { extract: row.options } : {}),
        trust: row.trusted ? { keys: [PublicKey.fromRaw(Buffer.from(row.trusted, 'hex'))] } : { anySigner: true },
      }),
      row.code,
    );
    assert.deepEqual(listTree(dir), before, 'paranoid verification left nothing behind');
  });
}

test('a re-signed package is refused without trust and only "intact" under anySigner: the signature proves integrity, not origin', async (t) => {
  const dir = tmpDir(t);
  const pkg = join(dir, 'pkg.psp');
  writeFileSync(pkg, assemble({ key: ATTACKER, slots: [{ id: 'hello', stored: enc.encode('evil\n'), target: '{workenv}/hello.txt' }] }));
  await assertRejectsCode(verifyPackageFile(pkg, { trust: {} }), 'ERR_PKG_UNTRUSTED_SIGNER');
  const r = await verifyPackageFile(pkg, { trust: { anySigner: true } });
  assert.equal(r.trust.kind, 'self-signed');
  assert.equal(r.signer.hex, ATTACKER.publicKey.hex);
});
