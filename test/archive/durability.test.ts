/**
 * Durability of extraction (issue 8 item 7): every extracted regular file and every directory (the staging root
 * included) is fsynced BEFORE the commit rename publishes them — for archive/extract's tar extraction and for
 * pkg/extract (whole packages and a single file slot). The fsync is observed through the `fsync` injection point,
 * which here records each call, checks that the destination does not exist yet, and then performs the real fsync.
 */
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { syncPath } from '../../src/io/files.ts';
import { extractTar } from '../../src/archive/extract.ts';
import { encodeTar, type TarEntryInput } from '../../src/archive/tar.ts';
import { extractPackage, openPackage, writePackage } from '../../src/pkg/index.ts';
import { assertRejectsCode } from '../support/assert.ts';
import { listTree, tmpDir } from '../support/tmp.ts';
import { SEED_KEY } from '../pkg/helpers.ts';

const enc = new TextEncoder();

interface Recorder {
  fsync: (path: string, kind: 'file' | 'directory') => Promise<void>;
  /** calls: [path relative to the staging root ('' for the root), kind]. */
  calls: Array<[string, 'file' | 'directory']>;
}

/** recorder records each fsync (relative to the staging directory) and asserts dest is not yet published. */
function recorder(dest: string): Recorder {
  const calls: Array<[string, 'file' | 'directory']> = [];
  return {
    calls,
    fsync: async (path, kind) => {
      assert.equal(existsSync(dest), false, `fsync of ${path} must happen before the commit publishes ${dest}`);
      const staging = /^(.*\.custody-extract-[^/]+)/.exec(path)?.[1];
      assert.ok(staging, `${path} is inside the staging directory`);
      calls.push([relative(staging, path), kind]);
      await syncPath(path);
    },
  };
}

/** expected lists, from the extracted tree, every regular file and directory ('' for the root). */
function expected(root: string): { files: string[]; dirs: string[] } {
  const files: string[] = [];
  const dirs = [''];
  for (const p of listTree(root)) {
    const st = lstatSync(join(root, p));
    if (st.isFile()) files.push(p);
    else if (st.isDirectory()) dirs.push(p);
  }
  return { files: files.sort(), dirs: dirs.sort() };
}

function synced(calls: Recorder['calls'], kind: 'file' | 'directory'): string[] {
  return calls.filter((c) => c[1] === kind).map((c) => c[0]).sort();
}

test('tar extraction fsyncs every file and directory before the rename, each once, directories after files', async (t) => {
  const dir = tmpDir(t);
  const entries: TarEntryInput[] = [
    { path: 'a', type: 'directory' },
    { path: 'a/one.txt', type: 'file', data: enc.encode('1') },
    { path: 'a/b/c/deep.txt', type: 'file', data: enc.encode('deep') },
    { path: 'big.bin', type: 'file', data: new Uint8Array(600 * 1024).fill(7) },
    { path: 'empty', type: 'file', data: new Uint8Array(0) },
    { path: 'link', type: 'symlink', linkpath: 'a/one.txt' },
  ];
  const dest = join(dir, 'out');
  const rec = recorder(dest);
  const r = await extractTar([encodeTar(entries)], dest, { allowLinks: true, fsync: rec.fsync });
  assert.equal(r.files, 4);
  const want = expected(dest);
  assert.deepEqual(synced(rec.calls, 'file'), want.files);
  assert.deepEqual(synced(rec.calls, 'directory'), want.dirs);
  assert.equal(rec.calls.length, want.files.length + want.dirs.length, 'each once');
  const firstDir = rec.calls.findIndex((c) => c[1] === 'directory');
  assert.ok(rec.calls.slice(firstDir).every((c) => c[1] === 'directory'), 'files first, then directories');
  assert.deepEqual(rec.calls.at(-1), ['', 'directory'], 'the staging root last');
});

test('package extraction fsyncs before publishing: whole package and a single file slot', async (t) => {
  const dir = tmpDir(t);
  writeFileSync(join(dir, 'notes.txt'), 'notes\n');
  const tree = join(dir, 'tree');
  for (const p of ['x/y', 'z']) {
    const full = join(tree, p);
    mkdirSync(full, { recursive: true });
    writeFileSync(join(full, 'f.txt'), p);
  }
  const pkg = join(dir, 'app.psp');
  await writePackage({
    output: pkg,
    name: 'app',
    version: '1',
    key: SEED_KEY,
    slots: [
      { id: 'tree', source: { kind: 'directory', path: tree }, target: '{workenv}' },
      { id: 'notes', source: { kind: 'file', path: join(dir, 'notes.txt') }, operations: 'gzip', target: '{workenv}/doc/notes.txt' },
    ],
  });
  const trust = { keys: [SEED_KEY.publicKey] };
  const r = await openPackage(pkg);
  try {
    const dest = join(dir, 'out');
    const rec = recorder(dest);
    await extractPackage(r, dest, { trust, fsync: rec.fsync });
    const want = expected(dest);
    assert.deepEqual(want.files, ['doc/notes.txt', 'x/y/f.txt', 'z/f.txt']);
    assert.deepEqual(synced(rec.calls, 'file'), want.files);
    assert.deepEqual(synced(rec.calls, 'directory'), want.dirs);

    const single = join(dir, 'notes-copy.txt');
    const rec1 = recorder(single);
    await extractPackage(r, single, { trust, slot: 'notes', fsync: rec1.fsync });
    assert.deepEqual(synced(rec1.calls, 'file'), ['content']);
    assert.deepEqual(synced(rec1.calls, 'directory'), ['']);
    assert.ok(existsSync(single));
  } finally {
    await r.close();
  }
});

test('a failing fsync aborts the commit: nothing is published and the staging directory is removed', async (t) => {
  const dir = tmpDir(t);
  const dest = join(dir, 'out');
  const tar = encodeTar([{ path: 'f.txt', type: 'file', data: enc.encode('x') }]);
  const failing = (): Promise<void> => Promise.reject(Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' }));
  await assertRejectsCode(extractTar([tar], dest, { fsync: failing }), 'ERR_IO_WRITE_FAILED');
  assert.deepEqual(listTree(dir), []);
});
