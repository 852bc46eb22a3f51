/**
 * io/files — the one temporary-name helper shared by atomic writes, the package writer and the blob store.
 */
import assert from 'node:assert/strict';
import { basename, dirname } from 'node:path';
import { test } from 'node:test';
import { tempPath } from '../../src/io/files.ts';

test('tempPath: hidden, in the given directory, labelled, ending in .tmp, and unique across 10,000 calls', () => {
  const names = Array.from({ length: 10_000 }, () => tempPath('/srv/data', 'app.psp.slots'));
  assert.equal(new Set(names).size, names.length);
  for (const n of names.slice(0, 3)) {
    assert.equal(dirname(n), '/srv/data');
    assert.match(basename(n), new RegExp(`^\\.app\\.psp\\.slots\\.${process.pid}\\.\\d+\\.\\d+\\.tmp$`));
  }
});
