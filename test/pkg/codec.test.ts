/**
 * Unit tables for the PSPF/2025 codecs: Adler-32, the index and descriptor encodings, operation chains, digest
 * references, the xz chunk walk and content sniffing.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { xz } from '@napi-rs/lzma';
import { gzipSync } from 'node:zlib';
import { randomBytes } from '../../src/crypto/index.ts';
import {
  adler32,
  computeIndexChecksum,
  emptyIndex,
  formatDescriptor,
  formatIndex,
  formatOperations,
  isPspfFile,
  packOperations,
  parseDescriptor,
  parseIndex,
  parseOperations,
  sniffMatches,
  unpackOperations,
  xzDecodedSize,
} from '../../src/pkg/index.ts';
import { parseDigestRef, parsePermissions } from '../../src/pkg/metadata.ts';
import { encodeTar } from '../../src/archive/tar.ts';
import { assertCode } from '../support/assert.ts';
import { tmpDir } from '../support/tmp.ts';
import { vec } from './helpers.ts';

test('adler32 matches RFC 1950 known values', () => {
  const e = new TextEncoder();
  assert.equal(adler32(new Uint8Array(0)), 1);
  assert.equal(adler32(e.encode('a')), 0x00620062);
  assert.equal(adler32(e.encode('abc')), 0x024d0127);
  assert.equal(adler32(e.encode('Wikipedia')), 0x11e60398);
  assert.equal(adler32(new Uint8Array(100_000).fill(0xff)), 0x149a302c); // python3 zlib.adler32
  // The modular reduction every 3,800 bytes matches a naive reduce-every-byte implementation.
  const data = randomBytes(20_000);
  let a = 1;
  let b = 0;
  for (const x of data) {
    a = (a + x) % 65521;
    b = (b + a) % 65521;
  }
  assert.equal(adler32(data), ((b << 16) | a) >>> 0);
});

test('index: parse ∘ format is the identity on any 8192 bytes; the checksum field is excluded from its own sum', () => {
  for (let i = 0; i < 20; i++) {
    const bytes = randomBytes(8192);
    assert.deepEqual(formatIndex(parseIndex(bytes), true), bytes);
    const fixed = formatIndex(parseIndex(bytes));
    assert.equal(parseIndex(fixed).indexChecksum, computeIndexChecksum(fixed));
    const again = Uint8Array.from(fixed);
    again.set([1, 2, 3, 4], 4);
    assert.equal(computeIndexChecksum(again), computeIndexChecksum(fixed));
  }
  const idx = emptyIndex();
  assert.equal(idx.formatVersion, 0x20250001);
  assert.equal(idx.capabilities, 0x83n);
});

test('descriptor: parse ∘ format is the identity on any 64 bytes', () => {
  for (let i = 0; i < 50; i++) {
    const bytes = randomBytes(64);
    assert.deepEqual(formatDescriptor(parseDescriptor(bytes)), bytes);
  }
});

test('operations: names, pipe form, packing LSB first, and refusals', () => {
  const table: Array<[string, string[], bigint, string]> = [
    ['raw', [], 0n, 'raw'],
    ['none', [], 0n, 'raw'],
    ['gzip', ['GZIP'], 0x10n, 'gzip'],
    ['tar', ['TAR'], 0x01n, 'tar'],
    ['tar.gz', ['TAR', 'GZIP'], 0x1001n, 'tar.gz'],
    ['tgz', ['TAR', 'GZIP'], 0x1001n, 'tar.gz'],
    ['TAR|GZIP', ['TAR', 'GZIP'], 0x1001n, 'tar.gz'],
    ['tar.bz2', ['TAR', 'BZIP2'], 0x1301n, 'tar.bz2'],
    ['tbz2', ['TAR', 'BZIP2'], 0x1301n, 'tar.bz2'],
    ['tar.xz', ['TAR', 'XZ'], 0x1601n, 'tar.xz'],
    ['txz', ['TAR', 'XZ'], 0x1601n, 'tar.xz'],
    ['tar.zst', ['TAR', 'ZSTD'], 0x1b01n, 'tar.zst'],
    ['bzip2', ['BZIP2'], 0x13n, 'bzip2'],
    ['xz', ['XZ'], 0x16n, 'xz'],
    ['GZIP|XZ', ['GZIP', 'XZ'], 0x1610n, 'GZIP|XZ'],
  ];
  for (const [text, chain, packed, canon] of table) {
    assert.deepEqual(parseOperations(text), chain, text);
    assert.equal(packOperations(parseOperations(text)), packed, text);
    assert.deepEqual(unpackOperations(packed), chain, text);
    assert.equal(formatOperations(chain as never), canon, text);
  }
  for (const bad of ['lz4', 'tar.lz', 'GZIP|TAR', 'TAR|TAR', 'TAR|NOPE', '', '__proto__', 'constructor', 'toString', 'tar|__proto__']) {
    assertCode(() => parseOperations(bad), 'ERR_PKG_OPERATION_UNSUPPORTED');
  }
  assertCode(() => unpackOperations(0x99n), 'ERR_PKG_OPERATION_UNSUPPORTED');
  assertCode(() => unpackOperations(0x100100n), 'ERR_PKG_OPERATION_UNSUPPORTED');
  assertCode(() => unpackOperations(0x0110n), 'ERR_PKG_OPERATION_UNSUPPORTED');
});

test('digest references and permissions parse strictly', () => {
  const h = 'ab'.repeat(32);
  assert.equal(Buffer.from(parseDigestRef(`sha256:${h}`, 'x')).toString('hex'), h);
  assert.equal(Buffer.from(parseDigestRef(`sha256:sha256:${h}`, 'x', true)).toString('hex'), h);
  for (const bad of [`sha256:sha256:${h}`, `sha256:${h.toUpperCase()}`, `sha512:${h}`, `sha256:${h}0`, h]) {
    assertCode(() => parseDigestRef(bad, 'x'), 'ERR_PKG_METADATA_FORMAT');
  }
  assert.equal(parsePermissions('0755', 'p'), 0o755);
  assert.equal(parsePermissions('644', 'p'), 0o644);
  assert.equal(parsePermissions(null, 'p'), null);
  for (const bad of ['0x755', '99', '07777777', 755]) assertCode(() => parsePermissions(bad, 'p'), 'ERR_PKG_METADATA_FORMAT');
});

test('xzDecodedSize walks containers from @napi-rs/lzma, the vector and xz(1) without decompressing', async (t) => {
  for (const n of [0, 1, 65536, 3 * 1024 * 1024 + 17]) {
    const data = randomBytes(n);
    assert.equal(xzDecodedSize(await xz.compress(data)), n, `lzma-rs ${n}`);
  }
  const { readPackage } = await import('../../src/pkg/index.ts');
  const pkg = await readPackage(vec('03-multi-ops'));
  const s = pkg.slots.find((x) => x.meta.operations === 'xz')!;
  const { readFileSync } = await import('node:fs');
  assert.equal(xzDecodedSize(readFileSync(vec('03-multi-ops')).subarray(s.offset, s.offset + s.storedSize)), 48000);
  let hasXz = true;
  try {
    execFileSync('xz', ['--version'], { stdio: 'ignore' });
  } catch {
    hasXz = false;
  }
  if (hasXz) {
    const dir = tmpDir(t);
    const f = join(dir, 'd');
    const text = Buffer.from('lorem ipsum dolor sit amet '.repeat(200_000));
    writeFileSync(f, text);
    // Multi-block, CRC32/CRC64/no checks, two concatenated streams: walked and decoded.
    for (const args of [['-9'], ['--block-size=1MiB'], ['-0', '-C', 'none'], ['-C', 'crc32']]) {
      const out = execFileSync('xz', ['-c', ...args, f]);
      assert.equal(xzDecodedSize(out), text.length, args.join(' '));
      assert.equal(Buffer.compare(await xz.decompress(out), text), 0, args.join(' '));
    }
    // What @napi-rs/lzma cannot decode is refused up front, not reported as corruption later.
    for (const args of [['-C', 'sha256'], ['--delta=dist=2', '--lzma2=preset=6'], ['--x86', '--lzma2']]) {
      assertCode(() => xzDecodedSize(execFileSync('xz', ['-c', ...args, f])), 'ERR_PKG_OPERATION_UNSUPPORTED');
    }
    const one = execFileSync('xz', ['-c', f]);
    assert.equal(xzDecodedSize(Buffer.concat([one, new Uint8Array(8), one])), 2 * text.length);
  }
  assertCode(() => xzDecodedSize(gzipSync('x')), 'ERR_PKG_ARCHIVE_FORMAT');
  const good = await xz.compress(randomBytes(100));
  assertCode(() => xzDecodedSize(good.subarray(0, good.length - 5)), 'ERR_PKG_ARCHIVE_FORMAT');
});

test('sniffing: the first bytes must match the outermost operation', async () => {
  const tar = encodeTar([{ path: 'a', type: 'file', data: new Uint8Array(3) }]);
  assert.ok(sniffMatches(tar, ['TAR']));
  assert.ok(!sniffMatches(new Uint8Array(600), ['TAR']));
  assert.ok(sniffMatches(gzipSync(tar), ['TAR', 'GZIP']));
  assert.ok(!sniffMatches(tar, ['TAR', 'GZIP']));
  assert.ok(sniffMatches(await xz.compress(tar), ['TAR', 'XZ']));
  assert.ok(sniffMatches(Buffer.from('BZh91AY&SY'), ['BZIP2']));
  assert.ok(!sniffMatches(Buffer.from('BZh01AY&SY'), ['BZIP2']));
  assert.ok(sniffMatches(Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd), ['ZSTD']));
  assert.ok(sniffMatches(new Uint8Array(0), []));
});

test('isPspfFile sniffs the end magic only', async (t) => {
  const dir = tmpDir(t);
  assert.equal(await isPspfFile(vec('04-seeded')), true);
  assert.equal(await isPspfFile(vec('T08-slot-swap-descriptor-updated')), true, 'a sniff, not a verification');
  writeFileSync(join(dir, 'short'), Uint8Array.of(0xf0, 0x9f, 0xaa, 0x84));
  assert.equal(await isPspfFile(join(dir, 'short')), false);
  writeFileSync(join(dir, 'manifest.json'), '{}'.padEnd(9000, ' '));
  assert.equal(await isPspfFile(join(dir, 'manifest.json')), false);
  assert.equal(await isPspfFile(join(dir, 'missing')), false);
  assert.equal(await isPspfFile(dir), false);
});
