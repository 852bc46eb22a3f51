/**
 * crypto/file-digest-pool: workers take items from the batch alongside the caller; what a worker hashes equals
 * node:crypto over the file's bytes (one-read and streamed files), and every failure (missing, a directory, a
 * symlink, which O_NOFOLLOW refuses) is left to the caller, never reported as a digest.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { FileDigestPool, POOL_MAX_BATCH } from '../../src/crypto/index.ts';
import { tmpDir } from '../support/tmp.ts';

const digest = (alg: string, b: Uint8Array): string => createHash(alg).update(b).digest('hex');

test('the pool hashes what the caller leaves it, byte for byte, and leaves every failure to the caller', async (t) => {
  const pool = FileDigestPool.create(1);
  assert.ok(pool, 'a pool of one worker');
  t.after(() => pool.close());
  await pool.whenReady();
  const dir = tmpDir(t);
  const paths: string[] = [];
  for (let i = 0; i < 40; i++) {
    const p = join(dir, `f${i}`);
    // Every tenth file is over the 1 MiB read buffer, so the streaming path is taken too.
    const b = Buffer.alloc(i % 10 === 3 ? 2 * 1024 * 1024 + 5 : i * 97, i);
    writeFileSync(p, b);
    paths.push(p);
  }
  mkdirSync(join(dir, 'sub'));
  symlinkSync(paths[0]!, join(dir, 'link'));
  const bad = [join(dir, 'missing'), join(dir, 'sub'), join(dir, 'link')];
  const all = [...paths, ...bad];
  const taken: number[] = [];
  const out = pool.run(all, (i) => {
    taken.push(i);
    // A slow caller: the worker gets most of the batch.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
  });
  assert.equal(out.length, all.length);
  let byWorker = 0;
  for (const [i, p] of paths.entries()) {
    const d = out[i];
    if (taken.includes(i)) {
      assert.equal(d, undefined, `item ${i} was the caller's`);
      continue;
    }
    assert.ok(d, `item ${i} hashed by the worker`);
    const bytes = readFileSync(p);
    assert.deepEqual(d, { size: bytes.length, sha1: digest('sha1', bytes), sha256: digest('sha256', bytes) });
    byWorker++;
  }
  assert.ok(byWorker > 0, 'the worker took part');
  for (let i = paths.length; i < all.length; i++) assert.equal(out[i], undefined, `${all[i]} is a failure the caller redoes`);
  // A second batch reuses the shared memory: the results are this batch's.
  const again = pool.run([paths[5]!, paths[6]!], () => undefined);
  for (const [j, i] of [5, 6].entries()) {
    const d = again[j];
    if (d !== undefined) assert.equal(d.sha256, digest('sha256', readFileSync(paths[i]!)));
  }
  assert.throws(() => pool.run(new Array<string>(POOL_MAX_BATCH + 1).fill(paths[0]!), () => undefined), RangeError);
});

test('a caller exception is rethrown after the batch is done; one core means no pool', async (t) => {
  const pool = FileDigestPool.create(1)!;
  t.after(() => pool.close());
  await pool.whenReady();
  const dir = tmpDir(t);
  const p = join(dir, 'a');
  writeFileSync(p, 'a');
  assert.throws(
    () =>
      pool.run(new Array<string>(50).fill(p), () => {
        throw new Error('caller failed');
      }),
    /caller failed/,
  );
  assert.equal(FileDigestPool.create(0), undefined);
  assert.ok(availableParallelism() >= 1);
});
