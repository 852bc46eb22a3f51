/**
 * The static read path: which tiles exist for which published sizes (full tiles only once complete, partial tiles
 * only for checkpointed widths, nothing beyond the tree) and that their bytes are exactly the RFC 6962 hashes.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { isTrustError } from '../../src/errors.ts';
import { resolveLogConfig } from '../../src/server/log/config.ts';
import { LogService } from '../../src/server/log/service.ts';
import { MemoryStorage } from '../../src/log/storage-memory.ts';
import { fakeSigner } from './fake-signer.ts';
import { mth, parseBundle } from './independent.ts';

const leaf = (e: Buffer): Buffer => createHash('sha256').update(Buffer.of(0)).update(e).digest();

test('tiles and entry bundles follow the published checkpoints', async () => {
  const storage = new MemoryStorage();
  const log = await LogService.start({ storage, signer: fakeSigner(), config: resolveLogConfig({ batchMaxEntries: 1_000 }) });
  const entries: Buffer[] = [];
  const addBatch = async (n: number): Promise<void> => {
    const batch = Array.from({ length: n }, (_, i) => Buffer.from(`entry ${entries.length + i}`));
    entries.push(...batch);
    await Promise.all(batch.map((e) => log.add(e)));
  };
  await addBatch(100); // checkpoint 100
  await addBatch(156); // checkpoint 256
  await addBatch(44); // checkpoint 300
  assert.equal(log.checkpoint()?.size, 300);
  const leaves = entries.map(leaf);

  const ok = async (path: string): Promise<Buffer> => Buffer.from(await log.readTile(path));
  const missing = async (path: string, code = 'ERR_LOG_TILE_NOT_FOUND'): Promise<void> => {
    await assert.rejects(log.readTile(path), (e) => isTrustError(e) && e.code === code, path);
  };

  assert.deepEqual(await ok('tile/0/000'), Buffer.concat(leaves.slice(0, 256)));
  assert.deepEqual(await ok('tile/0/000.p/100'), Buffer.concat(leaves.slice(0, 100)), 'checkpoint 100 made width 100 servable');
  assert.deepEqual(await ok('tile/0/001.p/44'), Buffer.concat(leaves.slice(256, 300)));
  assert.deepEqual(await ok('tile/1/000.p/1'), mth(leaves, 0, 256));
  assert.deepEqual(parseBundle(await ok('tile/entries/000')), entries.slice(0, 256));
  assert.deepEqual(parseBundle(await ok('tile/entries/000.p/100')), entries.slice(0, 100));
  assert.deepEqual(parseBundle(await ok('tile/entries/001.p/44')), entries.slice(256, 300));

  await missing('tile/0/000.p/99'); // no checkpoint of size 99
  await missing('tile/entries/001.p/43');
  await missing('tile/0/001'); // not full yet
  await missing('tile/entries/001');
  await missing('tile/0/002.p/1');
  await missing('tile/1/000'); // level 1 has one hash
  await missing('tile/2/000.p/1');
  await missing('tile/63/x999/999');
  for (const bad of ['tile/0/0', 'tile/0/000.p/0', 'tile/0/000.p/256', 'tile/64/000', 'tile/0/x000/001', 'tile/-1/000', 'tile/entries/000.p/01']) {
    await missing(bad, 'ERR_TLOG_TILE_PATH');
  }
  // Served bytes are cached; a second read returns the same immutable data.
  assert.deepEqual(await ok('tile/0/000'), Buffer.concat(leaves.slice(0, 256)));
  // The full level-0 tile and bundle were stored once, as blobs, by the batch that completed them.
  assert.equal(storage.tileCount, 2);
  assert.deepEqual(Buffer.from((await storage.readTile(0, 0))!), Buffer.concat(leaves.slice(0, 256)));
  assert.deepEqual(parseBundle(Buffer.from((await storage.readTile(-1, 0))!)), entries.slice(0, 256));
  await log.close();
  assert.deepEqual(storage.violations, []);
});

test('full tiles across many batches and levels are stored exactly once and match the derived hashes', async () => {
  const storage = new MemoryStorage();
  const log = await LogService.start({ storage, signer: fakeSigner(), config: resolveLogConfig({ batchMaxEntries: 97 }) });
  const entries: Buffer[] = [];
  // 66,000 entries in odd-sized batches: full level-0 tiles, one full level-1 tile, bundles cut across batches.
  for (let done = 0; done < 66_000; ) {
    const n = Math.min(3_001, 66_000 - done);
    const batch = Array.from({ length: n }, (_, i) => Buffer.from(`e${done + i}`));
    entries.push(...batch);
    await Promise.all(batch.map((e) => log.add(e)));
    done += n;
  }
  assert.deepEqual(storage.violations, [], 'no immutable tile was written twice');
  assert.equal(storage.tileCount, 2 * Math.floor(66_000 / 256) + 1);
  const leaves = entries.map(leaf);
  assert.deepEqual(Buffer.from((await storage.readTile(0, 256))!), Buffer.concat(leaves.slice(256 * 256, 257 * 256)));
  assert.deepEqual(parseBundle(Buffer.from((await storage.readTile(-1, 200))!)), entries.slice(200 * 256, 201 * 256));
  const level1 = Buffer.from((await storage.readTile(1, 0))!);
  assert.equal(level1.length, 8192);
  assert.deepEqual(level1.subarray(32 * 7, 32 * 8), mth(leaves, 7 * 256, 8 * 256));
  await log.close();
});
