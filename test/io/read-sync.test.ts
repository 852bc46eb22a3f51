/**
 * io/read-sync — the synchronous bounded reads answer exactly as io/files' asynchronous ones: the same bytes, the
 * same refusal codes, case by case (regular, empty, missing, directory, FIFO, symlink with and without allowSymlink,
 * over the cap); and pkg/sniff-sync agrees with pkg/sniff.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { isTrustError } from '../../src/errors.ts';
import { readFileBounded, type ReadBoundedOptions } from '../../src/io/files.ts';
import { openRegularFileSync, readFileBoundedSync, readTailSync } from '../../src/io/read-sync.ts';
import { isPspfFile } from '../../src/pkg/sniff.ts';
import { isPspfFileSync } from '../../src/pkg/sniff-sync.ts';
import { PSPF_END_MAGIC, PSPF_TRAILER_BYTES } from '../../src/pkg/trailer.ts';
import { tmpDir } from '../support/tmp.ts';

type Outcome = { bytes: string } | { code: string };

function outcomeOf(f: () => Buffer): Outcome {
  try {
    return { bytes: f().toString('hex') };
  } catch (e) {
    assert.ok(isTrustError(e), `expected a coded error, got ${String(e)}`);
    return { code: e.code };
  }
}

async function asyncOutcome(p: Promise<Buffer>): Promise<Outcome> {
  try {
    return { bytes: (await p).toString('hex') };
  } catch (e) {
    assert.ok(isTrustError(e), `expected a coded error, got ${String(e)}`);
    return { code: e.code };
  }
}

test('readFileBoundedSync gives readFileBounded\'s bytes and codes, case by case', async (t) => {
  const dir = tmpDir(t);
  writeFileSync(join(dir, 'file'), 'root.json bytes');
  writeFileSync(join(dir, 'empty'), '');
  writeFileSync(join(dir, 'big'), Buffer.alloc(1025, 7));
  mkdirSync(join(dir, 'dir'));
  symlinkSync(join(dir, 'file'), join(dir, 'link'));
  const fifo = spawnSync('mkfifo', [join(dir, 'fifo')]).status === 0;
  const cases: Array<[string, ReadBoundedOptions, Outcome]> = [
    ['file', { maxBytes: 1024 }, { bytes: Buffer.from('root.json bytes').toString('hex') }],
    ['empty', { maxBytes: 1024 }, { bytes: '' }],
    ['big', { maxBytes: 1024 }, { code: 'ERR_LIMIT_SIZE' }],
    ['big', { maxBytes: 1025 }, { bytes: Buffer.alloc(1025, 7).toString('hex') }],
    ['missing', { maxBytes: 1024 }, { code: 'ERR_IO_NOT_FOUND' }],
    ['dir', { maxBytes: 1024 }, { code: 'ERR_IO_NOT_REGULAR_FILE' }],
    ['link', { maxBytes: 1024 }, { code: 'ERR_IO_NOT_REGULAR_FILE' }],
    ['link', { maxBytes: 1024, allowSymlink: true }, { bytes: Buffer.from('root.json bytes').toString('hex') }],
    ...(fifo ? [['fifo', { maxBytes: 1024 }, { code: 'ERR_IO_NOT_REGULAR_FILE' }] as [string, ReadBoundedOptions, Outcome]] : []),
  ];
  for (const [name, options, want] of cases) {
    const path = join(dir, name);
    const got = outcomeOf(() => readFileBoundedSync(path, options));
    assert.deepEqual(got, want, `${name} ${JSON.stringify(options)}`);
    assert.deepEqual(await asyncOutcome(readFileBounded(path, options)), got, `${name}: the async read answers the same`);
  }
  if (!fifo) t.diagnostic('mkfifo missing: the FIFO case was not run');
});

test('openRegularFileSync and readTailSync: the size on the descriptor, the last bytes, a short file read whole', (t) => {
  const dir = tmpDir(t);
  writeFileSync(join(dir, 'f'), 'abcdef');
  const f = openRegularFileSync(join(dir, 'f'));
  try {
    assert.equal(f.size, 6);
    assert.equal(readTailSync(f, 4).toString(), 'cdef');
    assert.equal(readTailSync(f, 10).toString(), 'abcdef');
  } finally {
    closeSync(f.fd);
  }
});

test('isPspfFileSync answers as isPspfFile: magic at the end, long enough, regular (symlink followed), unreadable = false', async (t) => {
  const dir = tmpDir(t);
  const pkg = Buffer.concat([Buffer.alloc(PSPF_TRAILER_BYTES, 1), PSPF_END_MAGIC]);
  writeFileSync(join(dir, 'pkg'), pkg);
  writeFileSync(join(dir, 'short'), PSPF_END_MAGIC);
  writeFileSync(join(dir, 'trailer-long'), Buffer.concat([Buffer.alloc(PSPF_TRAILER_BYTES - 4, 1), PSPF_END_MAGIC]));
  writeFileSync(join(dir, 'manifest.json'), '{}'.padEnd(9000, ' '));
  symlinkSync(join(dir, 'pkg'), join(dir, 'link'));
  mkdirSync(join(dir, 'dir'));
  const want: Record<string, boolean> = { pkg: true, short: false, 'trailer-long': true, 'manifest.json': false, link: true, dir: false, missing: false };
  for (const [name, expected] of Object.entries(want)) {
    const path = join(dir, name);
    assert.equal(isPspfFileSync(path), expected, name);
    assert.equal(await isPspfFile(path), expected, `${name} (async)`);
  }
});
