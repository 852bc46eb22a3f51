/**
 * archive/zip: reads what Info-ZIP's `zip` writes, and refuses every hostile archive of the table (traversal names,
 * zip64, ratio and size bombs, too many entries, overlapping entries, lying headers) with its code, before inflating.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { isZip, openZip, type ZipLimits } from '../../src/archive/zip.ts';
import type { ErrorCode } from '../../src/errors.ts';
import { assertCode } from '../support/assert.ts';
import { tmpDir } from '../support/tmp.ts';
import { buildZip, type TestZipEntry, type TestZipOptions } from '../support/zip.ts';

let hasZip = true;
try {
  execFileSync('zip', ['-v'], { stdio: 'ignore' });
} catch {
  hasZip = false;
}

test('reads an archive written by Info-ZIP zip (deflate and stored, nested directories)', { skip: hasZip ? false : 'zip not installed' }, (t) => {
  const d = tmpDir(t);
  mkdirSync(join(d, 'in/sub'), { recursive: true });
  const big = JSON.stringify({ id: 'X', text: 'a'.repeat(5000) });
  writeFileSync(join(d, 'in/a.json'), big);
  writeFileSync(join(d, 'in/sub/b.txt'), 'hello\n');
  execFileSync('zip', ['-qr', '../out.zip', '.'], { cwd: join(d, 'in') });
  execFileSync('zip', ['-q0', '../stored.zip', 'a.json'], { cwd: join(d, 'in') });
  for (const [file, method] of [['out.zip', 8], ['stored.zip', 0]] as const) {
    const bytes = readFileSync(join(d, file));
    assert.ok(isZip(bytes));
    const zip = openZip(bytes);
    const a = zip.entries.find((e) => e.name === 'a.json')!;
    assert.equal(a.method, method);
    assert.equal(Buffer.from(zip.read(a)).toString(), big);
    if (file === 'out.zip') {
      assert.deepEqual(zip.entries.map((e) => e.name).sort(), ['a.json', 'sub/', 'sub/b.txt']);
      assert.equal(zip.entries.find((e) => e.name === 'sub/')!.isDirectory, true);
      assert.equal(Buffer.from(zip.read(zip.entries.find((e) => e.name === 'sub/b.txt')!)).toString(), 'hello\n');
    }
  }
  assert.equal(isZip(Buffer.from('{"id":1}')), false);
});

test('an empty archive has no entries', () => {
  assert.deepEqual(openZip(buildZip([])).entries, []);
});

const ok: TestZipEntry = { name: 'ok.json', data: '{"id":"A"}' };
const rows: Array<[string, TestZipEntry[], TestZipOptions, ErrorCode, Partial<ZipLimits>?]> = [
  ['"../" traversal', [{ name: '../evil.json', data: 'x' }], {}, 'ERR_ZIP_PATH'],
  ['nested traversal', [{ name: 'a/../../evil', data: 'x' }], {}, 'ERR_ZIP_PATH'],
  ['absolute name', [{ name: '/etc/passwd', data: 'x' }], {}, 'ERR_ZIP_PATH'],
  ['drive letter', [{ name: 'C:/x', data: 'x' }], {}, 'ERR_ZIP_PATH'],
  ['backslash', [{ name: 'a\\..\\b', data: 'x' }], {}, 'ERR_ZIP_PATH'],
  ['control character', [{ name: 'a\nb', data: 'x' }], {}, 'ERR_ZIP_PATH'],
  ['NUL in name', [{ name: 'a\0b', data: 'x' }], {}, 'ERR_ZIP_PATH'],
  ['duplicate name', [ok, ok], {}, 'ERR_ZIP_PATH'],
  ['non-ascii name without the utf-8 flag', [{ name: 'é.json', data: 'x', flags: 0 }], {}, 'ERR_ZIP_PATH'],
  ['zip64 locator', [ok], { zip64Locator: true }, 'ERR_ZIP_UNSUPPORTED'],
  ['zip64 sentinel size', [{ name: 'a', data: 'x', size: 0xffffffff }], {}, 'ERR_ZIP_UNSUPPORTED'],
  ['zip64 extra field', [{ name: 'a', data: 'x', extra: Buffer.from([1, 0, 0, 0]) }], {}, 'ERR_ZIP_UNSUPPORTED'],
  ['zip64 count sentinel', [ok], { count: 0xffff }, 'ERR_ZIP_UNSUPPORTED'],
  ['encrypted entry', [{ name: 'a', data: 'x', flags: 0x0801 }], {}, 'ERR_ZIP_UNSUPPORTED'],
  ['bzip2 method', [{ name: 'a', data: 'x', method: 12 }], {}, 'ERR_ZIP_UNSUPPORTED'],
  ['ratio bomb: 1 MiB of zeros', [{ name: 'bomb.json', data: new Uint8Array(1 << 20) }], {}, 'ERR_ZIP_RATIO_LIMIT'],
  ['entry over the size cap', [{ name: 'a', data: 'x'.repeat(100), method: 0 }], {}, 'ERR_ZIP_SIZE_LIMIT', { maxEntryBytes: 99 }],
  ['total over the size cap', [{ name: 'a', data: 'x'.repeat(60), method: 0 }, { name: 'b', data: 'y'.repeat(60), method: 0 }], {}, 'ERR_ZIP_SIZE_LIMIT', { maxTotalBytes: 100 }],
  ['too many entries', Array.from({ length: 11 }, (_, i) => ({ name: `r${i}.json`, data: '{}' })), {}, 'ERR_ZIP_ENTRY_LIMIT', { maxEntries: 10 }],
  ['two names for one local header', [{ name: 'a', data: 'x'.repeat(50) }, { name: 'b', data: 'x'.repeat(50) }], { shareData: true }, 'ERR_ZIP_FORMAT'],
  ['local name differs from the central one', [{ name: 'a.json', localName: 'b.json', data: 'x' }], {}, 'ERR_ZIP_FORMAT'],
  ['stored entry whose sizes differ', [{ name: 'a', data: 'xyz', method: 0, size: 2 }], {}, 'ERR_ZIP_FORMAT'],
  ['truncated: EOCD count beyond the directory', [ok], { count: 3 }, 'ERR_ZIP_FORMAT'],
];

for (const [what, entries, opts, code, limits] of rows) {
  test(`refused: ${what} → ${code}`, () => {
    assertCode(() => openZip(buildZip(entries, opts), limits), code);
  });
}

test('refused: overlapping entries (a local header hidden inside another entry\'s stored data)', () => {
  const inner = buildZip([{ name: 'b', data: 'y'.repeat(40), method: 0 }]);
  const innerLocal = inner.subarray(0, 30 + 1 + 40);
  const z = buildZip([
    { name: 'a', data: innerLocal, method: 0 },
    { name: 'b', data: 'y'.repeat(40), method: 0, localOffset: 30 + 1 },
  ]);
  let msg = '';
  assertCode(() => {
    try {
      openZip(z);
    } catch (e) {
      msg = (e as Error).message;
      throw e;
    }
  }, 'ERR_ZIP_FORMAT');
  assert.match(msg, /overlap/);
});

test('refused when reading: a deflate stream longer than declared, a wrong CRC-32, corrupt deflate data', () => {
  const longer = openZip(buildZip([{ name: 'a', data: 'x'.repeat(100), size: 10 }]));
  assertCode(() => longer.read(longer.entries[0]!), 'ERR_ZIP_FORMAT');
  const badCrc = openZip(buildZip([{ name: 'a', data: 'hello', crc: 1 }]));
  assertCode(() => badCrc.read(badCrc.entries[0]!), 'ERR_ZIP_FORMAT');
  const good = buildZip([{ name: 'a', data: 'hello world hello world' }]);
  good[30 + 1] = 0xff; // first bytes of the deflate stream, right after the 30-byte local header and the name "a"
  good[30 + 2] = 0xff;
  const corrupt = openZip(good);
  assertCode(() => corrupt.read(corrupt.entries[0]!), 'ERR_ZIP_FORMAT');
});

test('refused: not a zip, truncated, and a signature hidden in a comment does not count', () => {
  assertCode(() => openZip(Buffer.from('not a zip file at all, just text.')), 'ERR_ZIP_FORMAT');
  const z = buildZip([ok]);
  assertCode(() => openZip(z.subarray(0, z.length - 5)), 'ERR_ZIP_FORMAT');
  assertCode(() => openZip(new Uint8Array(3)), 'ERR_ZIP_FORMAT');
});
