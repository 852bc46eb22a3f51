/**
 * BLAKE3 through both backends (the native binding and the hash-wasm fallback), and the pipelined file hasher.
 *
 * Vectors: BLAKE3-team/BLAKE3 test_vectors/test_vectors.json (commit 2f6f56f3477321c9e474, CC0-1.0 / Apache-2.0):
 * input byte i is i mod 251; each "hash" field is an extended output whose first 32 bytes are the default digest,
 * which is what is embedded below (a subset of lengths crossing the 64-byte block and 1024-byte chunk edges).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { blake3Backend, createBlake3, createMultiHasher, type Blake3Backend } from '../../src/crypto/hash.ts';
import { randomBytes, sha256 } from '../../src/crypto/index.ts';
import { HASH_READ_BYTES, hashOpenFile } from '../../src/io/hash-file.ts';

const OFFICIAL: ReadonlyArray<readonly [number, string]> = [
  [0, 'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262'],
  [1, '2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213'],
  [1023, '10108970eeda3eb932baac1428c7a2163b0e924c9a9e25b35bba72b28f70bd11'],
  [1024, '42214739f095a406f3fc83deb889744ac00df831c10daa55189b5d121c855af7'],
  [1025, 'd00278ae47eb27b34faecf67b4fe263f82d5412916c1ffd97c8cb7fb814b8444'],
  [2048, 'e776b6028c7cd22a4d0ba182a8bf62205d2ef576467e838ed6f2529b85fba24a'],
  [2049, '5f4d72f40d7a5f82b15ca2b2e44b1de3c2ef86c426c95c1af0b6879522563030'],
  [3073, '7124b49501012f81cc7f11ca069ec9226cecb8a2c850cfe644e327d22d3e1cd3'],
  [8193, 'bab6c09cb8ce8cf459261398d2e7aef35700bf488116ceb94a36d0f5f1b7bc3b'],
  [16384, 'f875d6646de28985646f34ee13be9a576fd515f76b5b0a26bb324735041ddde4'],
  [31744, '62b6960e1a44bcc1eb1a611a8d6235b6b4b78f32e7abc4fb4c6cdcce94895c47'],
  [102400, 'bc3e3d41a1146b069abffad3c0d44860cf664390afce4d9661f7902e7943e085'],
];

/** A larger input (5 MiB + 123 bytes of the same pattern), digests computed with b3sum 1.2.0 and sha256sum. */
const LARGE_BYTES = 5 * 1024 * 1024 + 123;
const LARGE_BLAKE3 = 'a0dc8c48f59eb0ec7cda7bb828c5edc2bde44bb5c57cb58c25e209961cfc9948';
const LARGE_SHA256 = '0628356cd8d3d1f66cdf957c650b16d574aa59c556037ab29cd9c4acdce89278';

function pattern(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = i % 251;
  return b;
}

async function blake3Hex(backend: Blake3Backend, data: Uint8Array, split: number): Promise<string> {
  const h = await createBlake3(backend);
  for (let off = 0; off < data.length; off += split) h.update(data.subarray(off, off + split));
  if (data.length === 0) h.update(data);
  return h.digestHex();
}

const scratch = mkdtempSync(join(tmpdir(), 'custody-hash-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

test('the native BLAKE3 binding loads on the platforms it ships for (linux/darwin/windows x64 and arm64)', () => {
  const shipped = ['x64', 'arm64'].includes(process.arch) && ['linux', 'darwin', 'win32'].includes(process.platform);
  assert.equal(blake3Backend(), shipped ? 'native' : 'wasm');
});

for (const backend of ['native', 'wasm'] as const) {
  const skip = backend === 'native' && blake3Backend() !== 'native' ? 'no native BLAKE3 binding on this platform' : false;
  test(`BLAKE3 (${backend}): official test vectors, fed whole and in 7-byte and 1000-byte pieces`, { skip }, async () => {
    for (const [len, want] of OFFICIAL) {
      const data = pattern(len);
      for (const split of [Math.max(len, 1), 7, 1000]) assert.equal(await blake3Hex(backend, data, split), want, `input_len ${len}, pieces of ${split}`);
    }
  });
  test(`BLAKE3 (${backend}): 5 MiB + 123 bytes in 1 MiB + 1 pieces matches b3sum`, { skip }, async () => {
    assert.equal(await blake3Hex(backend, pattern(LARGE_BYTES), 1024 * 1024 + 1), LARGE_BLAKE3);
  });
}

test('hashOpenFile: SHA-256 and BLAKE3 of a multi-chunk file in one pass, across read-buffer edges', async () => {
  assert.ok(LARGE_BYTES > 2 * HASH_READ_BYTES, 'the file spans more than two reads, so both buffers are reused');
  const path = join(scratch, 'large.bin');
  writeFileSync(path, pattern(LARGE_BYTES));
  const fh = await open(path);
  try {
    assert.deepEqual(await hashOpenFile(fh, LARGE_BYTES, ['sha256', 'blake3'], path), { sha256: LARGE_SHA256, blake3: LARGE_BLAKE3 });
  } finally {
    await fh.close();
  }
  // Sizes at and around one read buffer, and empty.
  for (const n of [0, 1, HASH_READ_BYTES - 1, HASH_READ_BYTES, HASH_READ_BYTES + 1, 2 * HASH_READ_BYTES]) {
    const p = join(scratch, `f${n}.bin`);
    const data = pattern(n);
    writeFileSync(p, data);
    const h = await open(p);
    try {
      const want = await createMultiHasher(['blake3']);
      want.update(data);
      const got = await hashOpenFile(h, n, ['sha256', 'blake3'], p);
      assert.equal(got.sha256, Buffer.from(sha256(data)).toString('hex'), `sha256 of ${n} bytes`);
      assert.equal(got.blake3, want.digest().blake3, `blake3 of ${n} bytes`);
    } finally {
      await h.close();
    }
  }
});

test('hashOpenFile: a file shorter or longer than the size it was opened with is ERR_IO_READ_FAILED', async () => {
  const path = join(scratch, 'changing.bin');
  writeFileSync(path, pattern(3 * HASH_READ_BYTES));
  const fh = await open(path);
  try {
    await assert.rejects(hashOpenFile(fh, 4 * HASH_READ_BYTES, ['sha256'], path), (e: unknown) => (e as { code?: string }).code === 'ERR_IO_READ_FAILED' && /shrank/.test(String(e)));
    await assert.rejects(hashOpenFile(fh, HASH_READ_BYTES + 5, ['sha256'], path), (e: unknown) => (e as { code?: string }).code === 'ERR_IO_READ_FAILED' && /grew/.test(String(e)));
  } finally {
    await fh.close();
  }
});

test('hashOpenFile: a read the system refuses is a coded ERR_IO_READ_FAILED naming the file, not a bare errno error', async () => {
  // A directory opens for reading on Linux; reading it fails with EISDIR.
  const fh = await open(scratch);
  try {
    await assert.rejects(hashOpenFile(fh, 10, ['sha256'], scratch), (e: unknown) => {
      const err = e as { code?: string; message?: string };
      return err.code === 'ERR_IO_READ_FAILED' && err.message === `cannot read ${scratch}: EISDIR`;
    });
  } finally {
    await fh.close();
  }
});

test('BLAKE3 agrees with b3sum on a random file when b3sum is installed', { skip: hasB3sum() ? false : 'b3sum not installed (apt-get install b3sum)' }, async () => {
  const path = join(scratch, 'random.bin');
  writeFileSync(path, randomBytes(3 * HASH_READ_BYTES + 4321));
  const want = execFileSync('b3sum', ['--no-names', path], { encoding: 'utf8' }).trim();
  const fh = await open(path);
  try {
    const size = (await fh.stat()).size;
    assert.equal((await hashOpenFile(fh, size, ['blake3'], path)).blake3, want);
  } finally {
    await fh.close();
  }
});

function hasB3sum(): boolean {
  try {
    execFileSync('b3sum', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
