/**
 * ERR_IO_READ_FAILED and ERR_IO_WRITE_FAILED through the CLI: a path whose parent is a regular file cannot be read or
 * written (ENOTDIR, even for root), which is neither "not found" nor "exists"; both exit 3 and write nothing.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cli } from '../support/cli.ts';
import { listTree, tmpDir } from '../support/tmp.ts';

test('reading below a regular file is ERR_IO_READ_FAILED (exit 3)', async (t) => {
  const dir = tmpDir(t);
  writeFileSync(join(dir, 'f.txt'), 'not a directory\n');
  const r = await cli(['key', 'show', 'f.txt/k.pub'], { cwd: dir });
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stderr, /^custody: error: cannot read .*f\.txt\/k\.pub: ENOTDIR \[ERR_IO_READ_FAILED\]\n/);
  assert.equal(r.stdout, '');
});

test('writing below a regular file is ERR_IO_WRITE_FAILED (exit 3) and leaves nothing behind', async (t) => {
  const dir = tmpDir(t);
  writeFileSync(join(dir, 'f.txt'), 'not a directory\n');
  assert.equal((await cli(['keygen', '--output', 'k.pem'], { cwd: dir })).code, 0);
  const before = listTree(dir);
  const r = await cli(
    ['trust', 'init', '--root-key', 'k.pub', '--root-threshold', '1', '--manifest-key', 'k.pub', '--manifest-threshold', '1', '--sign', 'k.pem', '--output', 'f.txt/root.json'],
    { cwd: dir },
  );
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stderr, /^custody: error: cannot write .*f\.txt\/root\.json: ENOTDIR \[ERR_IO_WRITE_FAILED\]\n/);
  assert.deepEqual(listTree(dir), before);
});

test('keygen below a regular file is ERR_IO_WRITE_FAILED, not "already exists" (mkdir -p answers EEXIST there)', async (t) => {
  const dir = tmpDir(t);
  writeFileSync(join(dir, 'f.txt'), 'not a directory\n');
  const before = listTree(dir);
  const r = await cli(['keygen', '--output', 'f.txt/k.pem'], { cwd: dir });
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stderr, /^custody: error: cannot write .*f\.txt\/k\.(pem|pub): a part of .*f\.txt is not a directory \[ERR_IO_WRITE_FAILED\]\n/);
  assert.deepEqual(listTree(dir), before);
});
