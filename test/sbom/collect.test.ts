/**
 * sbom/collect: directory walks (digests against the real sha1sum/sha256sum, order, what is left out, caps),
 * npm lockfiles v1–v3 (names, purls, licenses, integrity, flags, edges; hostile names and caps refused with their
 * codes) and PSPF packages (verified, then described).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { DIR_LIST_ALL_MAX_BYTES, collectDirectory, collectInput, collectLockfile, collectPackage, listTreeDir, openTreeDir, parseLockfile } from '../../src/sbom/collect.ts';
import { assertCode, assertRejectsCode } from '../support/assert.ts';
import { tmpDir } from '../support/tmp.ts';
import { vectorPath } from '../support/vectors.ts';
import { LOCK_V1, LOCK_V3, coreutils, makeTree } from './fixtures.ts';

const lock = (doc: unknown): Uint8Array => Buffer.from(JSON.stringify(doc));

test('directory: every regular file once, sorted, with the SHA-1 and SHA-256 coreutils computes; symlinks left out', async (t) => {
  const dir = tmpDir(t);
  const names = makeTree(dir);
  const input = await collectDirectory(dir);
  assert.equal(input.kind, 'directory');
  assert.deepEqual(input.files.map((f) => f.name), names);
  assert.deepEqual(input.skipped, [{ name: 'link-to-tool', type: 'symlink' }]);
  const sha1 = coreutils('sha1sum', dir, names);
  const sha256 = coreutils('sha256sum', dir, names);
  for (const f of input.files) {
    assert.equal(f.sha1, sha1.get(f.name), `sha1 of ${f.name}`);
    assert.equal(f.sha256, sha256.get(f.name), `sha256 of ${f.name}`);
  }
  assert.equal(input.files.find((f) => f.name === 'big.bin')!.size, 3 * 1024 * 1024 + 17);
  assert.equal(input.files.find((f) => f.name === 'empty')!.sha256, 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
});

test('directory: paths come out in UTF-8 byte order without a sort of the whole list, whether a directory is listed at once or streamed', async (t) => {
  const dir = tmpDir(t);
  // '-' and '.' sort before '/', '0' after it: "a.b" comes before "a/x", "a0" after; a file "b" before "b-c/…".
  const names = ['a/x', 'a/y/z', 'a-b', 'a.b', 'a0', 'b', 'b-c/d', 'b.c', 'bc/e', 'Z', '~', 'é/f', 'e\u0301', '\u00ff', 'x y/!'];
  for (const n of names) {
    mkdirSync(join(dir, n, '..'), { recursive: true });
    writeFileSync(join(dir, n), n);
  }
  const bytewise = [...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  for (const listAllMaxBytes of [DIR_LIST_ALL_MAX_BYTES, 0]) {
    const input = await collectDirectory(dir, { listAllMaxBytes });
    assert.deepEqual(input.files.map((f) => f.name), bytewise, `listAllMaxBytes ${listAllMaxBytes}`);
    assert.equal(input.files.find((f) => f.name === 'x y/!')!.size, 5);
  }
  // A cap is still met while streaming a directory entry by entry.
  await assertRejectsCode(collectDirectory(dir, { listAllMaxBytes: 0, maxFiles: 4 }), 'ERR_SBOM_TREE_LIMIT');
});

test('directory, chdir mode: the same files, order and digests; the working directory is back afterwards, also after a refusal', async (t) => {
  const dir = tmpDir(t);
  const names = makeTree(dir);
  const cwd = process.cwd();
  const plain = await collectDirectory(dir);
  const viaCwd = await collectDirectory(dir, { chdir: true });
  assert.equal(process.cwd(), cwd);
  assert.deepEqual(viaCwd, plain);
  assert.deepEqual(viaCwd.files.map((f) => f.name), names);
  await assertRejectsCode(collectDirectory(dir, { chdir: true, maxFiles: 2 }), 'ERR_SBOM_TREE_LIMIT');
  assert.equal(process.cwd(), cwd);
  // A directory swapped for a symlink is refused in this mode too: it is opened by its bare name with O_NOFOLLOW.
  mkdirSync(join(dir, 'outside'));
  writeFileSync(join(dir, 'outside', 'secret'), 'x');
  const tree = join(dir, 'tree');
  mkdirSync(tree);
  symlinkSync(join(dir, 'outside'), join(tree, 'sub'));
  process.chdir(tree);
  try {
    assertCode(() => openTreeDir('sub', join(tree, 'sub'), false), 'ERR_IO_READ_FAILED', 'IoError');
  } finally {
    process.chdir(cwd);
  }
  assert.deepEqual((await collectDirectory(tree, { chdir: true })).skipped, [{ name: 'sub', type: 'symlink' }]);
  assert.equal(process.cwd(), cwd);
});

test('directory: special files are left out, not opened (a FIFO would block a reader)', async (t) => {
  const dir = tmpDir(t);
  writeFileSync(join(dir, 'a'), 'a');
  try {
    execFileSync('mkfifo', [join(dir, 'pipe')]);
  } catch {
    t.skip('mkfifo not available');
    return;
  }
  const input = await collectDirectory(dir);
  assert.deepEqual(input.files.map((f) => f.name), ['a']);
  assert.deepEqual(input.skipped, [{ name: 'pipe', type: 'other' }]);
});

test('directory caps: more files or deeper nesting than allowed is ERR_SBOM_TREE_LIMIT', async (t) => {
  const dir = tmpDir(t);
  mkdirSync(join(dir, 'a', 'b', 'c'), { recursive: true });
  for (const n of ['x', 'y', 'z']) writeFileSync(join(dir, n), n);
  await assertRejectsCode(collectDirectory(dir, { maxFiles: 2 }), 'ERR_SBOM_TREE_LIMIT');
  await assertRejectsCode(collectDirectory(dir, { maxDepth: 2 }), 'ERR_SBOM_TREE_LIMIT');
  assert.equal((await collectDirectory(dir, { maxFiles: 3, maxDepth: 3 })).files.length, 3);
});

test('directory: a file name that is not UTF-8 is ERR_SBOM_FILE_NAME (it could not be written faithfully)', async (t) => {
  const dir = tmpDir(t);
  try {
    writeFileSync(Buffer.concat([Buffer.from(join(dir, 'bad-')), Buffer.from([0xff])]), 'x');
  } catch {
    t.skip('this file system refuses non-UTF-8 names');
    return;
  }
  await assertRejectsCode(collectDirectory(dir), 'ERR_SBOM_FILE_NAME');
});

test('lockfile v3: names, versions, purls, integrity as hex, licenses as declared, flags and resolved edges', () => {
  const input = parseLockfile(lock(LOCK_V3));
  assert.equal(input.kind, 'npm-lockfile');
  assert.equal(input.lockfileVersion, 3);
  assert.equal(input.name, 'demo-app');
  assert.deepEqual(
    input.packages.map((p) => p.key),
    ['node_modules/@scope/lib', 'node_modules/@scope/lib/node_modules/left-pad', 'node_modules/fsevents', 'node_modules/left-pad', 'node_modules/tester', 'packages/ws'],
  );
  const by = new Map(input.packages.map((p) => [p.key, p]));
  const scoped = by.get('node_modules/@scope/lib')!;
  assert.equal(scoped.name, '@scope/lib');
  assert.equal(scoped.purl, 'pkg:npm/%40scope/lib@1.0.0');
  assert.equal(scoped.integrity['sha512'], 'ab'.repeat(64));
  assert.deepEqual(scoped.dependencies, [{ key: 'node_modules/@scope/lib/node_modules/left-pad', kind: 'prod' }]);
  assert.equal(by.get('node_modules/@scope/lib/node_modules/left-pad')!.license, 'WTFPL');
  assert.equal(by.get('node_modules/@scope/lib/node_modules/left-pad')!.integrity['sha1'], '11'.repeat(20));
  assert.deepEqual(by.get('node_modules/left-pad')!.integrity, { sha512: 'cd'.repeat(64), sha1: '22'.repeat(20) });
  assert.equal(by.get('node_modules/left-pad')!.license, 'MIT OR Apache-2.0');
  assert.equal(by.get('node_modules/fsevents')!.license, 'MIT OR BSD-2-Clause');
  assert.equal(by.get('node_modules/fsevents')!.optional, true);
  assert.equal(by.get('node_modules/tester')!.dev, true);
  assert.equal(by.get('node_modules/tester')!.license, 'UNLICENSED');
  assert.equal(by.get('packages/ws')!.name, 'ws-pkg');
  assert.equal(input.root!.purl, 'pkg:npm/demo-app@1.2.3');
  assert.deepEqual(input.root!.dependencies, [
    { key: 'node_modules/@scope/lib', kind: 'prod' },
    { key: 'node_modules/fsevents', kind: 'optional' },
    { key: 'node_modules/left-pad', kind: 'prod' },
    { key: 'node_modules/tester', kind: 'dev' },
  ]);
  assert.equal(input.source!.name, 'package-lock.json');
  assert.equal(input.source!.sha256.length, 64);
});

test('lockfile v1: the nested dependencies tree gives the same packages and edges', () => {
  const input = parseLockfile(lock(LOCK_V1));
  assert.equal(input.lockfileVersion, 1);
  assert.deepEqual(input.packages.map((p) => `${p.key}@${p.version}`), [
    'node_modules/@scope/lib@1.0.0',
    'node_modules/@scope/lib/node_modules/left-pad@1.0.0',
    'node_modules/left-pad@1.3.0',
    'node_modules/tester@2.0.0',
  ]);
  assert.deepEqual(input.packages[0]!.dependencies, [{ key: 'node_modules/@scope/lib/node_modules/left-pad', kind: 'prod' }]);
  assert.deepEqual(input.root!.dependencies.map((d) => `${d.key}:${d.kind}`), ['node_modules/@scope/lib:prod', 'node_modules/left-pad:prod', 'node_modules/tester:dev']);
});

test('lockfile: hostile names and paths are ERR_SBOM_LOCKFILE_NAME, naming the entry', () => {
  const v3 = (packages: Record<string, unknown>): Uint8Array => lock({ lockfileVersion: 3, packages: { '': { name: 'p' }, ...packages } });
  const rows: Array<[string, Uint8Array, string]> = [
    ['"../" in a path', v3({ 'node_modules/../../etc/passwd': { version: '1.0.0' } }), 'node_modules/../../etc/passwd'],
    ['absolute path', v3({ '/etc/node_modules/x': { version: '1.0.0' } }), '/etc/node_modules/x'],
    ['control character in a path', v3({ 'node_modules/a\u001b[31mb': { version: '1.0.0' } }), 'node_modules/a\\x1b[31mb'],
    ['backslash', v3({ 'node_modules\\x': { version: '1.0.0' } }), 'node_modules\\x'],
    ['empty name field', v3({ 'node_modules/x': { name: '', version: '1.0.0' } }), 'node_modules/x'],
    ['"../" as a name', v3({ 'node_modules/x': { name: '../x', version: '1.0.0' } }), 'node_modules/x'],
    ['control character in a name', v3({ 'node_modules/x': { name: 'x\u0007', version: '1.0.0' } }), 'node_modules/x'],
    ['two slashes', v3({ 'node_modules/x': { name: '@a/b/c', version: '1.0.0' } }), 'node_modules/x'],
    ['slash without scope', v3({ 'node_modules/x': { name: 'a/b', version: '1.0.0' } }), 'node_modules/x'],
    ['dependency named ".."', v3({ 'node_modules/x': { version: '1.0.0', dependencies: { '..': '*' } } }), 'node_modules/x dependencies'],
    ['v1 dependency named ".."', lock({ lockfileVersion: 1, dependencies: { '..': { version: '1.0.0' } } }), 'node_modules/..'],
    ['empty path part', v3({ 'node_modules//x': { version: '1.0.0' } }), 'node_modules//x'],
    ['a scope without a name', v3({ 'node_modules/@scope': { version: '1.0.0' } }), 'node_modules/@scope'],
    // Found by the lockfile fuzz target (test/fuzz-regressions/lockfile/a2ec41e983e9e3d4.bin): packageurl-js trims
    // names and threw a plain Error for a root named " ".
    ['a root name of one space', lock({ name: ' ', lockfileVersion: 1 }), '(root)'],
    ['a name with a trailing space', v3({ 'node_modules/x': { name: 'x ', version: '1.0.0' } }), 'node_modules/x'],
    ['a scoped name with a leading space', v3({ 'node_modules/x': { name: '@s/ x', version: '1.0.0' } }), 'node_modules/x'],
  ];
  for (const [why, bytes, entry] of rows) {
    let message = '';
    assertCode(() => {
      try {
        parseLockfile(bytes);
      } catch (e) {
        message = (e as Error).message;
        throw e;
      }
    }, 'ERR_SBOM_LOCKFILE_NAME', 'FormatError');
    assert.ok(message.includes(`"${entry}"`), `${why}: message names the entry: ${message}`);
  }
});

test('lockfile: malformed documents are ERR_SBOM_LOCKFILE_SCHEMA; JSON errors keep their own codes', () => {
  const rows: Array<[string, unknown]> = [
    ['unknown lockfileVersion', { lockfileVersion: 4, packages: {} }],
    ['no lockfileVersion', { packages: {} }],
    ['version not a string', { lockfileVersion: 3, packages: { 'node_modules/x': { version: 1 } } }],
    ['entry not an object', { lockfileVersion: 2, packages: { 'node_modules/x': 'x' } }],
    ['integrity of the wrong length', { lockfileVersion: 3, packages: { 'node_modules/x': { version: '1.0.0', integrity: 'sha512-AAAA' } } }],
    ['license neither string nor {type}', { lockfileVersion: 3, packages: { 'node_modules/x': { version: '1.0.0', license: 7 } } }],
    ['dev flag not boolean', { lockfileVersion: 3, packages: { 'node_modules/x': { version: '1.0.0', dev: 'yes' } } }],
    ['dependencies not an object', { lockfileVersion: 3, packages: { 'node_modules/x': { version: '1.0.0', dependencies: ['a'] } } }],
  ];
  for (const [, doc] of rows) assertCode(() => parseLockfile(lock(doc)), 'ERR_SBOM_LOCKFILE_SCHEMA', 'FormatError');
  assertCode(() => parseLockfile(Buffer.from('{"lockfileVersion": 3, "lockfileVersion": 2}')), 'ERR_FORMAT_JSON_DUPLICATE_KEY');
});

test('directory walk: a subdirectory that is a symlink (or a file) when it is opened is refused, never followed (ERR_IO_READ_FAILED)', (t) => {
  // What the walk does for each directory readdir reported, here on the path after the swap to a symlink.
  const dir = tmpDir(t);
  mkdirSync(join(dir, 'outside'));
  writeFileSync(join(dir, 'outside', 'secret'), 'not in the tree');
  mkdirSync(join(dir, 'tree'));
  symlinkSync(join(dir, 'outside'), join(dir, 'tree', 'sub'));
  writeFileSync(join(dir, 'tree', 'file'), 'x');
  assertCode(() => openTreeDir(join(dir, 'tree', 'sub'), join(dir, 'tree', 'sub'), false), 'ERR_IO_READ_FAILED', 'IoError');
  assertCode(() => openTreeDir(join(dir, 'tree', 'file'), join(dir, 'tree', 'file'), false), 'ERR_IO_READ_FAILED', 'IoError');
  // The root the user names may be a symlink (followed once); its entries are read in the directory opened.
  const root = openTreeDir(join(dir, 'tree', 'sub'), join(dir, 'tree', 'sub'), true);
  try {
    assert.deepEqual(listTreeDir(root, join(dir, 'tree', 'sub'), '').map((e) => e.name), ['secret']);
  } finally {
    closeSync(root.fd);
  }
});

test('lockfile v1: nesting over 64 levels is ERR_LIMIT_DEPTH, a path over 4,096 characters ERR_LIMIT_SIZE (long keys would hash alike in V8)', () => {
  const nest = (levels: number, name: (i: number) => string): unknown => {
    let deps: unknown = { [name(levels - 1)]: { version: '1.0.0' } };
    for (let i = levels - 2; i >= 0; i--) deps = { [name(i)]: { version: '1.0.0', dependencies: deps } };
    return { lockfileVersion: 1, dependencies: deps };
  };
  assert.equal(parseLockfile(lock(nest(64, (i) => `p${i}`))).packages.length, 64);
  assertCode(() => parseLockfile(lock(nest(65, (i) => `p${i}`))), 'ERR_LIMIT_DEPTH', 'LimitError');
  // 20 levels of 214-character names: each name is legal, the path they build is 4,559 characters.
  assertCode(() => parseLockfile(lock(nest(20, (i) => `${i}`.padStart(214, 'n')))), 'ERR_LIMIT_SIZE', 'LimitError');
  assert.equal(parseLockfile(lock(nest(17, (i) => `${i}`.padStart(214, 'n')))).packages.length, 17);
});

test('lockfile over the size cap is refused before it is parsed (ERR_LIMIT_SIZE)', async (t) => {
  const dir = tmpDir(t);
  const p = join(dir, 'package-lock.json');
  writeFileSync(p, JSON.stringify(LOCK_V3));
  await assertRejectsCode(collectLockfile(p, 100), 'ERR_LIMIT_SIZE');
  assert.equal((await collectLockfile(p)).packages.length, 6);
});

test('PSPF: verified to the deep level, then the package file, launcher and every slot with SHA-1 + SHA-256', async () => {
  const path = vectorPath('pspf', '03-multi-ops.psp');
  const facts = JSON.parse(readFileSync(vectorPath('pspf', '03-multi-ops.facts.json'), 'utf8')) as { file_sha256: string; slots: Array<{ id: string }> };
  const input = await collectPackage(path);
  assert.equal(input.kind, 'pspf');
  assert.equal(input.source!.sha256, facts.file_sha256);
  assert.equal(input.source!.sha1, execFileSync('sha1sum', [path], { encoding: 'utf8' }).slice(0, 40));
  assert.deepEqual(input.files.map((f) => f.name), ['launcher', ...facts.slots.map((s, i) => `slot/${i}/${s.id}`)]);
  // T08: slot bytes swapped with the unsigned descriptor checksum updated — accepted by the reference, refused here.
  await assertRejectsCode(collectPackage(vectorPath('pspf', 'T08-slot-swap-descriptor-updated.psp')), 'ERR_PKG_SLOT_DIGEST_MISMATCH');
});

test('collectInput tells the three kinds apart; anything else is ERR_SBOM_INPUT_KIND', async (t) => {
  const dir = tmpDir(t);
  writeFileSync(join(dir, 'package-lock.json'), JSON.stringify(LOCK_V3));
  writeFileSync(join(dir, 'notes.txt'), 'just text, long enough to be looked at but no PSPF magic at the end');
  assert.equal((await collectInput(dir)).kind, 'directory');
  assert.equal((await collectInput(join(dir, 'package-lock.json'))).kind, 'npm-lockfile');
  assert.equal((await collectInput(vectorPath('pspf', '04-seeded.psp'))).kind, 'pspf');
  await assertRejectsCode(collectInput(join(dir, 'notes.txt')), 'ERR_SBOM_INPUT_KIND');
  await assertRejectsCode(collectInput(join(dir, 'missing')), 'ERR_IO_NOT_FOUND');
});
