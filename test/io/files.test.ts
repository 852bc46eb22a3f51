/**
 * io/files — the one temporary-name helper shared by atomic writes, the package writer and the blob store.
 */
import assert from 'node:assert/strict';
import { basename, dirname } from 'node:path';
import { test } from 'node:test';
import { tempPath, writeFilesAtomic } from '../../src/io/files.ts';
import { assertRejectsCode } from '../support/assert.ts';
import { listTree, tmpDir } from '../support/tmp.ts';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

test('tempPath: hidden, in the given directory, labelled, ending in .tmp, and unique across 10,000 calls', () => {
  const names = Array.from({ length: 10_000 }, () => tempPath('/srv/data', 'app.psp.slots'));
  assert.equal(new Set(names).size, names.length);
  for (const n of names.slice(0, 3)) {
    assert.equal(dirname(n), '/srv/data');
    assert.match(basename(n), new RegExp(`^\\.app\\.psp\\.slots\\.${process.pid}\\.\\d+\\.\\d+\\.tmp$`));
  }
});

test('writeFilesAtomic: all targets replaced together; a failing one (directory, existing without overwrite) changes none', async (t) => {
  const dir = tmpDir(t);
  writeFileSync(join(dir, 'a'), 'old a');
  writeFileSync(join(dir, 'b'), 'old b');
  mkdirSync(join(dir, 'd'));
  const before = listTree(dir);
  await assertRejectsCode(writeFilesAtomic([{ path: join(dir, 'a'), data: 'new a' }, { path: join(dir, 'd'), data: 'x' }]), 'ERR_IO_WRITE_FAILED');
  await assertRejectsCode(writeFilesAtomic([{ path: join(dir, 'a'), data: 'new a' }, { path: join(dir, 'b'), data: 'x', overwrite: false }]), 'ERR_IO_EXISTS');
  assert.deepEqual(listTree(dir), before, 'no temporary file left, nothing removed');
  assert.equal(readFileSync(join(dir, 'a'), 'utf8'), 'old a');
  await writeFilesAtomic([{ path: join(dir, 'a'), data: 'new a' }, { path: join(dir, 'c'), data: 'new c', overwrite: false }]);
  assert.equal(readFileSync(join(dir, 'a'), 'utf8'), 'new a');
  assert.equal(readFileSync(join(dir, 'c'), 'utf8'), 'new c');
});
