/**
 * archive/extract: the rules of the module doc, per-entry verdicts (golang.org/x/mod/zip CheckedFiles spirit),
 * links when allowed, destination handling, and complexity.
 */
import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkArchivePath, extractTar, foldName, type EntryVerdict } from '../../src/archive/extract.ts';
import { encodeTar, type TarEntryInput } from '../../src/archive/tar.ts';
import { isTrustError, type ErrorCode } from '../../src/errors.ts';
import { assertCode, assertRejectsCode } from '../support/assert.ts';
import { listTree, tmpDir } from '../support/tmp.ts';

const enc = new TextEncoder();
const f = (path: string, data = 'x', mode?: number): TarEntryInput => ({ path, type: 'file', data: enc.encode(data), ...(mode === undefined ? {} : { mode }) });

test('checkArchivePath: accepted spellings are normalised, the rest refused with a precise code', () => {
  const ok: Array<[string, string]> = [
    ['a', 'a'],
    ['a/b/c.txt', 'a/b/c.txt'],
    ['./a/b', 'a/b'],
    ['././a', 'a'],
    ['dir/', 'dir'],
    ['./', ''],
    ['.', ''],
    ['..a/b..', '..a/b..'],
    ['ünïcødé/😀', 'ünïcødé/😀'],
    ['x/a:b', 'x/a:b'],
  ];
  for (const [raw, want] of ok) assert.equal(checkArchivePath(raw), want, raw);
  const bad: Array<[string, ErrorCode]> = [
    ['', 'ERR_PKG_PATH_INVALID'],
    ['/etc/passwd', 'ERR_PKG_PATH_ESCAPE'],
    ['//server/share', 'ERR_PKG_PATH_ESCAPE'],
    ['C:/Windows', 'ERR_PKG_PATH_ESCAPE'],
    ['c:evil', 'ERR_PKG_PATH_ESCAPE'],
    ['a:b', 'ERR_PKG_PATH_ESCAPE'],
    ['..', 'ERR_PKG_PATH_ESCAPE'],
    ['../x', 'ERR_PKG_PATH_ESCAPE'],
    ['a/../../x', 'ERR_PKG_PATH_ESCAPE'],
    ['a/..', 'ERR_PKG_PATH_ESCAPE'],
    ['a//b', 'ERR_PKG_PATH_INVALID'],
    ['a/./b', 'ERR_PKG_PATH_INVALID'],
    ['a\\b', 'ERR_PKG_PATH_INVALID'],
    ['a\0b', 'ERR_PKG_PATH_INVALID'],
    ['a\nb', 'ERR_PKG_PATH_INVALID'],
    ['a\x7f', 'ERR_PKG_PATH_INVALID'],
    ['x'.repeat(256), 'ERR_PKG_PATH_INVALID'],
    ['a/'.repeat(2100), 'ERR_PKG_PATH_INVALID'],
    ['a/'.repeat(200) + 'b', 'ERR_PKG_PATH_INVALID'],
  ];
  for (const [raw, code] of bad) assertCode(() => checkArchivePath(raw), code, 'PolicyError');
  assert.equal(foldName('Straße'), foldName('STRASSE'));
  assert.equal(foldName('e\u0301'), foldName('\u00e9'), 'NFC: the two spellings of é collide');
});

test('a clean archive extracts with normalised modes, implicit parents and every verdict "ok"', async (t) => {
  const dir = tmpDir(t);
  const tar = encodeTar([
    { path: './', type: 'directory' },
    { path: './bin', type: 'directory', mode: 0o700 },
    f('./bin/tool', '#!/bin/sh\n', 0o777),
    f('etc/deep/conf', 'c', 0o666),
    f('private', 'p', 0o600),
    { path: 'bin', type: 'directory' },
  ]);
  const r = await extractTar([tar], join(dir, 'out'));
  assert.deepEqual(listTree(join(dir, 'out')), ['bin', 'bin/tool', 'etc', 'etc/deep', 'etc/deep/conf', 'private']);
  assert.deepEqual(
    r.entries.map((e) => [e.path, e.verdict]),
    [['./', 'omitted'], ['./bin/', 'ok'], ['./bin/tool', 'ok'], ['etc/deep/conf', 'ok'], ['private', 'ok'], ['bin/', 'ok']],
  );
  assert.equal(statSync(join(dir, 'out/bin/tool')).mode & 0o777, 0o755, 'group/other write dropped, exec kept');
  assert.equal(statSync(join(dir, 'out/etc/deep/conf')).mode & 0o777, 0o644);
  assert.equal(statSync(join(dir, 'out/private')).mode & 0o777, 0o600);
  assert.equal(r.files, 3);
  assert.equal(readFileSync(join(dir, 'out/bin/tool'), 'utf8'), '#!/bin/sh\n');
  assert.deepEqual(listTree(dir), ['out', 'out/bin', 'out/bin/tool', 'out/etc', 'out/etc/deep', 'out/etc/deep/conf', 'out/private']);
});

test('a refusal lists every refused entry (checking continues, writing stops) and leaves nothing', async (t) => {
  const dir = tmpDir(t);
  const tar = encodeTar([
    f('good-1'),
    f('../escape'),
    f('good-2'),
    { path: 'dev', type: 'char-device' },
    f('GOOD-1'),
    { path: 'link', type: 'symlink', linkpath: 'good-1' },
  ]);
  let err: unknown;
  try {
    await extractTar([tar], join(dir, 'out'));
  } catch (e) {
    err = e;
  }
  assert.ok(isTrustError(err));
  assert.equal(err.code, 'ERR_PKG_PATH_ESCAPE', 'the first refusal is the error');
  const refused = (err.details as { refused: EntryVerdict[]; refusedCount: number }).refused;
  assert.deepEqual(
    refused.map((v) => [v.path, v.code]),
    [
      ['../escape', 'ERR_PKG_PATH_ESCAPE'],
      ['dev', 'ERR_PKG_SPECIAL_FILE'],
      ['GOOD-1', 'ERR_PKG_PATH_COLLISION'],
      ['link', 'ERR_PKG_LINK_REFUSED'],
    ],
  );
  assert.deepEqual(listTree(dir), []);
});

test('links when allowed: inside symlinks and hardlinks are created; upward, absolute and through-link writes are not', async (t) => {
  const dir = tmpDir(t);
  const tar = encodeTar([
    f('lib/libx.so.1', 'elf'),
    { path: 'lib/libx.so', type: 'symlink', linkpath: 'libx.so.1' },
    { path: 'current', type: 'symlink', linkpath: 'lib' },
    { path: 'copy', type: 'hardlink', linkpath: 'lib/libx.so.1' },
  ]);
  await assertRejectsCode(extractTar([tar], join(dir, 'refused')), 'ERR_PKG_LINK_REFUSED');
  await extractTar([tar], join(dir, 'out'), { allowLinks: true });
  assert.equal(readlinkSync(join(dir, 'out/lib/libx.so')), 'libx.so.1');
  assert.ok(lstatSync(join(dir, 'out/current')).isSymbolicLink());
  assert.equal(statSync(join(dir, 'out/copy')).ino, statSync(join(dir, 'out/lib/libx.so.1')).ino);
  assert.equal(readFileSync(join(dir, 'out/current/libx.so'), 'utf8'), 'elf');
  const cases: Array<[TarEntryInput[], ErrorCode]> = [
    [[{ path: 'l', type: 'symlink', linkpath: '../x' }], 'ERR_PKG_PATH_ESCAPE'],
    [[{ path: 'l', type: 'symlink', linkpath: 'a/../../x' }], 'ERR_PKG_PATH_ESCAPE'],
    [[{ path: 'l', type: 'symlink', linkpath: '/etc' }], 'ERR_PKG_PATH_ESCAPE'],
    [[{ path: 'l', type: 'symlink', linkpath: '' }], 'ERR_PKG_PATH_INVALID'],
    [[{ path: 'l', type: 'symlink', linkpath: 'sub' }, f('l/x')], 'ERR_PKG_PATH_ESCAPE'],
    [[{ path: 'h', type: 'hardlink', linkpath: 'missing' }], 'ERR_PKG_PATH_ESCAPE'],
    [[f('a'), { path: 'a', type: 'symlink', linkpath: 'b' }], 'ERR_PKG_PATH_COLLISION'],
  ];
  for (const [entries, code] of cases) {
    await assertRejectsCode(extractTar([encodeTar(entries)], join(dir, 'x'), { allowLinks: true }), code);
  }
  assert.deepEqual(listTree(dir).filter((p) => !p.startsWith('out')), []);
});

test('destinations: must be new or an empty directory, with an existing parent', async (t) => {
  const dir = tmpDir(t);
  const tar = encodeTar([f('a')]);
  mkdirSync(join(dir, 'empty'));
  await extractTar([tar], join(dir, 'empty'));
  assert.deepEqual(listTree(join(dir, 'empty')), ['a']);
  await assertRejectsCode(extractTar([tar], join(dir, 'empty')), 'ERR_IO_EXISTS');
  writeFileSync(join(dir, 'file'), 'x');
  await assertRejectsCode(extractTar([tar], join(dir, 'file')), 'ERR_IO_EXISTS');
  await assertRejectsCode(extractTar([tar], join(dir, 'no/such/parent')), 'ERR_IO_NOT_FOUND');
  assert.deepEqual(listTree(dir), ['empty', 'empty/a', 'file']);
});

test('limits: entries and declared size are enforced from the headers, before any data is read', async (t) => {
  const dir = tmpDir(t);
  const many = encodeTar(Array.from({ length: 11 }, (_, i) => f(`f${i}`)));
  await assertRejectsCode(extractTar([many], join(dir, 'o'), { limits: { maxEntries: 10 } }), 'ERR_PKG_ENTRY_LIMIT');
  await extractTar([many], join(dir, 'o'), { limits: { maxEntries: 11 } });
  const big = encodeTar([f('a', 'x'.repeat(100)), f('b', 'y'.repeat(100))]);
  await assertRejectsCode(extractTar([big], join(dir, 'p'), { limits: { maxTotalBytes: 150 } }), 'ERR_PKG_SIZE_LIMIT');
  assert.deepEqual(listTree(dir).filter((p) => !p.startsWith('o')), []);
});

// Each directory is made once (500, not 5,000); a quadratic extractor would also outlast the generous runner timeout,
// which bounds the time without asserting on wall time (a loaded machine made a 20 s bound fail).
test('complexity: 5,000 files in 500 directories extract in linear time', { timeout: 180_000 }, async (t) => {
  const dir = tmpDir(t);
  const entries = Array.from({ length: 5000 }, (_, i) => f(`d${i % 500}/f${i}`, String(i)));
  // fsync cost is the disk's, not the algorithm's (5,500 fsyncs doubled this test's time on a loaded VM); the
  // durability of extraction has its own tests (test/archive/durability.test.ts).
  const r = await extractTar([encodeTar(entries)], join(dir, 'out'), { fsync: () => Promise.resolve() });
  assert.equal(r.files, 5000);
  assert.equal(r.directories, 500);
  assert.equal(readFileSync(join(dir, 'out/d7/f4507'), 'utf8'), '4507');
});
