/**
 * Reference packages whose slot input was already gzip (issue 8 item 2). FlavorPack's Python builder skips
 * compression for input that starts with the gzip magic under a `gzip` operation: it stores the input as is and
 * records original_size (and the signed `size`) = the stored size, and its launcher gunzips the slot when it
 * extracts. The package is built here in exactly that shape (the vectors directory is being reorganised, so the
 * fixture is made in-test): it must verify AND extract to what the reference launcher writes, with the decoded size
 * still capped by the extraction limits.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { extractPackage, openPackage, verifyPackageFile } from '../../src/pkg/index.ts';
import { assertRejectsCode } from '../support/assert.ts';
import { cli } from '../support/cli.ts';
import { listTree, tmpDir } from '../support/tmp.ts';
import { assemble, SEED_KEY, SEED_PUBLIC_HEX } from './helpers.ts';

const trust = { keys: [SEED_KEY.publicKey] };

/** referenceShape packages `input` (already gzip) the way the reference writer does under `gzip`. */
function referenceShape(input: Uint8Array, id = 'data.json.gz'): Uint8Array {
  // Stored as is: stored size = original_size = signed size; the signed checksum is over the stored bytes.
  return assemble({ slots: [{ id, stored: input, operations: 'gzip', target: `{workenv}/${id.replace(/\.gz$/, '')}` }] });
}

test('an already-gzip slot stored as is verifies (deep, paranoid) and extracts to the decompressed content', async (t) => {
  const dir = tmpDir(t);
  const content = Buffer.from(JSON.stringify({ words: Array.from({ length: 5000 }, (_, i) => `word-${i % 97}`) }));
  const input = gzipSync(content);
  assert.ok(content.length > input.length * 3, 'the content compresses, so decoded size ≠ original_size');
  const pkg = join(dir, 'ref.psp');
  writeFileSync(pkg, referenceShape(input));
  const r0 = await openPackage(pkg);
  const slot = r0.model.slots[0]!;
  assert.deepEqual([slot.storedSize, slot.originalSize, slot.meta.size], [input.length, input.length, input.length]);
  await r0.close();

  const deep = await verifyPackageFile(pkg, { level: 'deep', trust });
  assert.equal(deep.slots[0]!.digestVerified, true);
  const paranoid = await verifyPackageFile(pkg, { level: 'paranoid', trust, scratchDir: dir });
  assert.equal(paranoid.slots[0]!.decodedSize, content.length);

  const r = await openPackage(pkg);
  try {
    const x = await extractPackage(r, join(dir, 'lib-out'), { trust });
    assert.equal(x.bytes, content.length);
  } finally {
    await r.close();
  }
  assert.deepEqual(readFileSync(join(dir, 'lib-out', 'data.json')), content);

  const c = await cli(['extract', 'ref.psp', 'cli-out', '--trusted-key', SEED_PUBLIC_HEX], { cwd: dir });
  assert.equal(c.code, 0, c.stderr);
  assert.deepEqual(readFileSync(join(dir, 'cli-out', 'data.json')), content);
  const one = await cli(['extract', 'ref.psp', 'data.json.gz', 'one.json', '--trusted-key', SEED_PUBLIC_HEX], { cwd: dir });
  assert.equal(one.code, 0, one.stderr);
  assert.deepEqual(readFileSync(join(dir, 'one.json')), content);
});

test('stored-as-is slots stay capped: total size and ratio limits refuse a bomb, and nothing is written', async (t) => {
  const dir = tmpDir(t);
  const zeros = new Uint8Array(64 * 1024 * 1024);
  const bomb = gzipSync(zeros, { level: 9 });
  const pkg = join(dir, 'bomb.psp');
  writeFileSync(pkg, referenceShape(bomb, 'zeros.gz'));
  const before = listTree(dir);
  const r = await openPackage(pkg);
  try {
    await assertRejectsCode(extractPackage(r, join(dir, 'out1'), { trust }), 'ERR_PKG_RATIO_LIMIT');
    await assertRejectsCode(extractPackage(r, join(dir, 'out2'), { trust, limits: { maxRatio: 1e9, maxTotalBytes: 1024 * 1024 } }), 'ERR_PKG_SIZE_LIMIT');
  } finally {
    await r.close();
  }
  assert.deepEqual(listTree(dir), before);
});

test('outside that shape the decoded size must still equal original_size (ERR_PKG_SIZE_MISMATCH)', async (t) => {
  const dir = tmpDir(t);
  const content = Buffer.from('hello hello hello hello hello hello hello hello\n');
  const stored = gzipSync(content);
  const cases: Array<[string, Uint8Array]> = [
    // A gzip slot that claims one byte more than it decodes to (and is not stored as is).
    ['gzip, original_size off by one', assemble({ slots: [{ id: 'a', stored, operations: 'gzip', originalSize: content.length + 1 }] })],
    // A raw slot always decodes to its stored bytes: original_size must be that.
    ['raw, original_size lies', assemble({ slots: [{ id: 'b', stored: content, operations: 'raw', originalSize: content.length - 1 }] })],
  ];
  for (const [what, bytes] of cases) {
    const pkg = join(dir, 'p.psp');
    writeFileSync(pkg, bytes);
    const r = await openPackage(pkg);
    try {
      await assertRejectsCode(extractPackage(r, join(dir, 'out'), { trust }), 'ERR_PKG_SIZE_MISMATCH').catch((e: Error) => {
        throw new Error(`${what}: ${e.message}`);
      });
    } finally {
      await r.close();
    }
    assert.deepEqual(listTree(dir), ['p.psp'], what);
  }
});
