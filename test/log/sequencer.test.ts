/**
 * Sequencer over the memory fake (fault hooks, invariants) and SQLite (compare-and-swap, lease): every acknowledged
 * entry verifies against the checkpoint it came with, checkpoints are consistent with each other, and storage faults
 * never fork the log or lose an acknowledged entry.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { isTrustError } from '../../src/errors.ts';
import { resolveLogConfig } from '../../src/server/log/config.ts';
import { hashLeaf, storedHashCount, verifyConsistency, verifyInclusion } from '../../src/tlog/merkle.ts';
import { Sequencer, type AddResult, type CheckpointSigner } from '../../src/log/sequencer.ts';
import { MemoryStorage } from '../../src/log/storage-memory.ts';
import { openSqliteStorage } from '../../src/log/storage-sqlite.ts';
import { openPostgresStorage } from '../../src/log/storage-postgres.ts';
import type { LogStorage } from '../../src/log/storage.ts';
import { freshSchema, postgresForFile } from '../support/postgres.ts';
import { assertRejectsCode } from '../support/assert.ts';
import { tmpDir } from '../support/tmp.ts';
import { fakeSigner } from './fake-signer.ts';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

function makeSequencer(
  storage: LogStorage,
  opts: { owner?: string; signer?: CheckpointSigner; isDead?: () => boolean; batchMaxEntries?: number; addTimeoutMs?: number } = {},
): Sequencer {
  return new Sequencer({
    storage,
    signer: opts.signer ?? fakeSigner(),
    config: resolveLogConfig({ retryDelayMs: 5, batchMaxEntries: opts.batchMaxEntries ?? 64, addTimeoutMs: opts.addTimeoutMs ?? 30_000 }),
    holder: { owner: opts.owner ?? 'owner-a', pid: 1, host: 'test' },
    isDead: opts.isDead ?? (() => false),
  });
}

function rootOf(text: string): Uint8Array {
  return Buffer.from(text.split('\n')[2]!, 'base64');
}

/** checkResults verifies every acknowledgement and the mutual consistency of the checkpoints seen. */
async function checkResults(seq: Sequencer, entries: Map<number, Uint8Array>, results: AddResult[]): Promise<void> {
  const seen = new Map<number, Uint8Array>();
  for (const r of results) {
    verifyInclusion(hashLeaf(entries.get(r.index)!), r.index, r.size, r.proof, rootOf(r.checkpoint));
    seen.set(r.size, rootOf(r.checkpoint));
  }
  const cur = seq.checkpoint!;
  seen.set(cur.size, rootOf(cur.text));
  const sizes = [...seen.keys()].sort((a, b) => a - b);
  for (const s of sizes) {
    if (s === 0 || s === cur.size) continue;
    const proof = await seq.proveConsistency(s, cur.size);
    verifyConsistency(s, cur.size, proof, seen.get(s)!, seen.get(cur.size)!);
  }
}

async function addMany(seq: Sequencer, from: number, n: number, entries: Map<number, Uint8Array>): Promise<AddResult[]> {
  const rs = await Promise.all(
    Array.from({ length: n }, (_, i) => {
      const e = enc(`entry ${from + i}`);
      return seq.add(e).then((r) => {
        entries.set(r.index, e);
        return r;
      });
    }),
  );
  return rs;
}

// A real PostgreSQL server for the postgres rows (one per test file); skipped loudly where it is not installed.
const pgsql = postgresForFile();
const pgSkip = pgsql.skip;

for (const kind of ['memory', 'sqlite', 'postgres'] as const) {
  test(`${kind}: concurrent adds are acknowledged with valid proofs against consistent checkpoints`, { skip: kind === 'postgres' ? pgSkip : false }, async (t) => {
    const storage: LogStorage =
      kind === 'memory'
        ? new MemoryStorage()
        : kind === 'sqlite'
          ? await openSqliteStorage(join(tmpDir(t), 'log.db'))
          : await openPostgresStorage(pgsql.url(), { schema: freshSchema() });
    const seq = makeSequencer(storage);
    await seq.start();
    assert.equal(seq.checkpoint?.size, 0, 'a fresh log publishes the empty checkpoint');
    const entries = new Map<number, Uint8Array>();
    const results = [...(await addMany(seq, 0, 500, entries)), ...(await addMany(seq, 500, 37, entries))];
    assert.equal(new Set(results.map((r) => r.index)).size, 537, 'indexes are unique');
    assert.equal(seq.treeSize, 537);
    await checkResults(seq, entries, results);
    assert.ok(seq.stats.batches >= 9, 'batchMaxEntries 64 splits 537 entries into at least 9 batches');
    await seq.close();
    if (storage instanceof MemoryStorage) assert.deepEqual(storage.violations, []);
    // A restart on the same data reuses the state.
    if (kind !== 'memory') {
      const again = makeSequencer(storage);
      await again.start();
      assert.equal(again.checkpoint?.size, 537);
      const more = await addMany(again, 537, 3, entries);
      assert.deepEqual(more.map((r) => r.index).sort((a, b) => a - b), [537, 538, 539]);
      await again.close();
    }
    await storage.close();
  });
}

test('memory: "fail and do not persist" on appendBatch: submitters get ERR_LOG_STORAGE, the tree has no gap', async () => {
  const storage = new MemoryStorage();
  const seq = makeSequencer(storage);
  await seq.start();
  storage.failNext('appendBatch', 'fail-before');
  await assertRejectsCode(seq.add(enc('lost')), 'ERR_LOG_STORAGE');
  assert.equal(storage.treeSize, 0);
  const entries = new Map<number, Uint8Array>();
  const rs = await addMany(seq, 0, 10, entries);
  assert.deepEqual(rs.map((r) => r.index).sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  await checkResults(seq, entries, rs);
  assert.deepEqual(storage.violations, []);
  await seq.close();
});

test('memory: "fail but persist" on appendBatch: the sequencer finds the batch landed and acknowledges it', async () => {
  const storage = new MemoryStorage();
  const seq = makeSequencer(storage);
  await seq.start();
  storage.failNext('appendBatch', 'fail-after');
  const entries = new Map<number, Uint8Array>();
  const rs = await addMany(seq, 0, 5, entries);
  assert.equal(storage.treeSize, 5);
  await checkResults(seq, entries, rs);
  assert.equal(storage.pendingFaults, 0);
  assert.deepEqual(storage.violations, []);
  await seq.close();
});

test('memory: an append whose outcome stays unknown is re-read before the next batch', async () => {
  const storage = new MemoryStorage();
  const seq = makeSequencer(storage);
  await seq.start();
  // The batch lands, its acknowledgement is lost, and the read-back fails too: submitters must retry.
  storage.failNext('appendBatch', 'fail-after');
  storage.failNext('load', 'fail-before');
  await assertRejectsCode(seq.add(enc('maybe')), 'ERR_LOG_STORAGE');
  const entries = new Map<number, Uint8Array>([[0, enc('maybe')]]);
  const rs = await addMany(seq, 1, 4, entries);
  assert.deepEqual(rs.map((r) => r.index).sort((a, b) => a - b), [1, 2, 3, 4], 'the landed batch keeps index 0');
  await checkResults(seq, entries, rs);
  assert.equal(seq.checkpoint?.size, 5);
  assert.deepEqual(storage.violations, []);
  await seq.close();
});

test('memory: a publish whose outcome stays unknown is settled before the next compare-and-swap', async () => {
  const storage = new MemoryStorage();
  const seq = makeSequencer(storage);
  await seq.start();
  // The checkpoint lands, its acknowledgement is lost, and reading it back fails too.
  storage.failNext('publishCheckpoint', 'fail-after');
  storage.failNext('load', 'fail-before');
  const entries = new Map<number, Uint8Array>();
  const rs = await addMany(seq, 0, 3, entries);
  await checkResults(seq, entries, rs);
  const more = await addMany(seq, 3, 2, entries);
  await checkResults(seq, entries, more);
  assert.equal(seq.fatalError, undefined);
  assert.equal(seq.checkpoint?.size, 5);
  assert.deepEqual(storage.violations, []);
  await seq.close();
});

test('memory: publish faults (both kinds) delay but never lose acknowledgements', async () => {
  for (const mode of ['fail-before', 'fail-after'] as const) {
    const storage = new MemoryStorage();
    const seq = makeSequencer(storage);
    await seq.start();
    storage.failNext('publishCheckpoint', mode, 3);
    const entries = new Map<number, Uint8Array>();
    const rs = await addMany(seq, 0, 20, entries);
    await checkResults(seq, entries, rs);
    assert.equal(seq.checkpoint?.size, 20, mode);
    assert.deepEqual(storage.violations, [], mode);
    await seq.close();
  }
});

test('memory: read faults are retried: at start, and on a cold cache while building a batch', async () => {
  const storage = new MemoryStorage();
  const seq = makeSequencer(storage);
  await seq.start();
  const entries = new Map<number, Uint8Array>();
  await addMany(seq, 0, 7, entries);
  await seq.close();
  // A fresh sequencer has a cold cache: start() reads the tree's right edge to check the signed root.
  const cold = makeSequencer(storage);
  storage.failNext('readHashes', 'fail-before');
  await assertRejectsCode(cold.start(), 'ERR_LOG_STORAGE');
  await cold.start();
  const rs = await addMany(cold, 7, 3, entries);
  await checkResults(cold, entries, rs);
  await cold.close();
  assert.deepEqual(storage.violations, []);
});

test('memory: a crash between the two commits is recovered by publishing the durable entries first', async () => {
  const storage = new MemoryStorage();
  const signer = fakeSigner();
  // The entries must become durable well within addTimeoutMs (else they fail ERR_LOG_OVERLOADED) even on a loaded
  // machine; the wait for ERR_LOG_NOT_PUBLISHED is the price.
  const a = makeSequencer(storage, { signer, addTimeoutMs: 1_500 });
  await a.start();
  storage.failNext('publishCheckpoint', 'fail-before', 1_000_000);
  const pending = [a.add(enc('durable 0')), a.add(enc('durable 1'))];
  while (storage.treeSize < 2) await new Promise((r) => setTimeout(r, 2));
  for (const p of pending) await assertRejectsCode(p, 'ERR_LOG_NOT_PUBLISHED');
  // "Crash": A's lease is taken over by B as if A's pid were dead; A never acknowledged anything.
  const b = makeSequencer(storage.connect(), { owner: 'owner-b', signer, isDead: () => true });
  storage.clearFaults();
  await b.start();
  assert.equal(b.checkpoint?.size, 2, 'the recovered checkpoint covers the durable entries');
  const r = await b.add(enc('after'));
  assert.equal(r.index, 2);
  // A lost the lease: its next write fails and it stops instead of forking.
  await assert.rejects(a.add(enc('from a')), (e) => isTrustError(e) && ['ERR_LOG_LEASE_LOST', 'ERR_LOG_CLOSED'].includes(e.code));
  assert.equal(a.fatalError?.code, 'ERR_LOG_LEASE_LOST');
  assert.equal(storage.treeSize, 3);
  for (let i = 1; i < signer.signed.length; i++) {
    assert.ok(signer.signed[i]!.size >= signer.signed[i - 1]!.size || signer.signed[i]!.size === 2);
  }
  assert.deepEqual(storage.violations, []);
  await b.close();
  await a.close();
});

test('memory: a recovery publish that fails at first is retried before start returns (a lost checkpoint is re-signed before anything is served)', async () => {
  const storage = new MemoryStorage();
  const signer = fakeSigner();
  const a = makeSequencer(storage, { signer, addTimeoutMs: 1_500 });
  await a.start();
  await a.add(enc('published 0'));
  // Durable entries that no stored checkpoint covers: what a lost (unsynced) publish leaves after a power loss.
  storage.failNext('publishCheckpoint', 'fail-before', 1_000_000);
  const pending = [a.add(enc('durable 1')), a.add(enc('durable 2'))];
  while (storage.treeSize < 3) await new Promise((r) => setTimeout(r, 2));
  for (const p of pending) await assertRejectsCode(p, 'ERR_LOG_NOT_PUBLISHED');
  storage.clearFaults();
  // The restart's first three publish attempts fail as well; start keeps trying instead of serving checkpoint 1.
  storage.failNext('publishCheckpoint', 'fail-before', 3);
  const b = makeSequencer(storage.connect(), { owner: 'owner-b', signer, isDead: () => true });
  await b.start();
  assert.equal(b.checkpoint?.size, 3, 'start returned with a checkpoint covering every durable entry');
  assert.deepEqual(storage.violations, []);
  await b.close();
  await a.close();
});

for (const kind of ['sqlite', 'postgres'] as const) {
test(`${kind}: a second process on the same database is locked out, and the CAS fences a stale writer`, { skip: kind === 'postgres' ? pgSkip : false }, async (t) => {
  const path = join(tmpDir(t), 'log.db');
  const schema = freshSchema();
  const open = (): Promise<LogStorage> => (kind === 'sqlite' ? openSqliteStorage(path) : openPostgresStorage(pgsql.url(), { schema }));
  const s1 = await open();
  const s2 = await open();
  const a = makeSequencer(s1, { owner: 'owner-a' });
  await a.start();
  await addMany(a, 0, 5, new Map());
  const b = makeSequencer(s2, { owner: 'owner-b' });
  await assertRejectsCode(b.start(), 'ERR_LOG_LOCKED');
  // Even a writer that skipped the lease check cannot extend a size someone else extended.
  await assertRejectsCode(
    s2.appendBatch({ owner: 'owner-a', oldSize: 3, entries: [enc('fork')], hashStart: storedHashCount(3), hashes: [new Uint8Array(32)], tiles: [] }),
    'ERR_LOG_CONFLICT',
  );
  await assertRejectsCode(
    s2.publishCheckpoint({ owner: 'owner-a', expected: null, next: { size: 1, text: 'x' } }),
    'ERR_LOG_CONFLICT',
  );
  await assertRejectsCode(
    s2.appendBatch({ owner: 'owner-b', oldSize: 5, entries: [enc('fork')], hashStart: storedHashCount(5), hashes: [new Uint8Array(32)], tiles: [] }),
    'ERR_LOG_LEASE_LOST',
  );
  await a.close();
  // After a clean close the lease is free.
  const c = makeSequencer(s2, { owner: 'owner-b' });
  await c.start();
  assert.equal(c.checkpoint?.size, 5);
  await c.close();
  await s1.close();
  await s2.close();
});
}

test('limits: oversized entries, overload and a closed log are coded errors', async () => {
  const storage = new MemoryStorage();
  const seq = new Sequencer({
    storage,
    signer: fakeSigner(),
    config: resolveLogConfig({ maxPendingEntries: 1, batchDelayMs: 50 }),
    holder: { owner: 'o', pid: 1, host: 'h' },
    isDead: () => false,
  });
  await seq.start();
  await assertRejectsCode(seq.add(new Uint8Array(65_536)), 'ERR_LOG_ENTRY_TOO_LARGE');
  const first = seq.add(new Uint8Array(65_535));
  await assertRejectsCode(seq.add(enc('two')), 'ERR_LOG_OVERLOADED');
  assert.equal((await first).index, 0);
  await seq.close();
  await assertRejectsCode(seq.add(enc('late')), 'ERR_LOG_CLOSED');
});

test('start refuses a stored tree that does not hash to its signed checkpoint', async () => {
  const storage = new MemoryStorage();
  const signer = fakeSigner();
  const seq = makeSequencer(storage, { signer });
  await seq.start();
  await addMany(seq, 0, 3, new Map());
  await seq.close();
  const liar: CheckpointSigner = { sign: (size, root) => signer.sign(size, root), open: (text) => ({ ...signer.open(text), root: new Uint8Array(32) }) };
  await assertRejectsCode(makeSequencer(storage, { signer: liar }).start(), 'ERR_LOG_STATE_CORRUPT');
});

function makeShared(storage: LogStorage, signer: CheckpointSigner, name: string): Sequencer {
  return new Sequencer({
    storage,
    signer,
    config: resolveLogConfig({ retryDelayMs: 5, batchMaxEntries: 16, groupCommitWaitMs: 0 }),
    holder: { owner: `owner-${name}`, pid: 1, host: 'test' },
    isDead: () => false,
    shared: true,
  });
}

test('shared mode: three writers on one storage append one linear log; losers catch up and retry', async () => {
  const storage = new MemoryStorage();
  const signer = fakeSigner();
  const seqs = [makeShared(storage, signer, 'a'), makeShared(storage, signer, 'b'), makeShared(storage, signer, 'c')];
  for (const s of seqs) await s.start();
  // A single writer is locked out while the shared writers hold the lease (and the other way round).
  await assertRejectsCode(makeSequencer(storage, { owner: 'single' }).start(), 'ERR_LOG_LOCKED');
  const entries = new Map<number, Uint8Array>();
  const results: AddResult[] = [];
  await Promise.all(
    Array.from({ length: 300 }, (_, i) => {
      const e = enc(`shared entry ${i}`);
      return seqs[i % 3]!.add(e).then((r) => {
        assert.equal(entries.has(r.index), false, `index ${r.index} assigned twice`);
        entries.set(r.index, e);
        results.push(r);
      });
    }),
  );
  assert.equal(entries.size, 300);
  assert.deepEqual([...entries.keys()].sort((x, y) => x - y), Array.from({ length: 300 }, (_, i) => i));
  assert.ok(seqs.reduce((n, s) => n + s.stats.conflicts, 0) > 0, 'the writers raced');
  assert.ok(seqs.every((s) => s.stats.entries > 0), 'every writer appended');
  // Every writer follows the others to the same final tree; every acknowledgement is consistent with it.
  const state = await storage.load();
  assert.equal(state.treeSize, 300);
  for (const s of seqs) {
    while (s.checkpoint!.size < 300) await new Promise((r) => setTimeout(r, 20));
    assert.equal(s.checkpoint!.text, state.checkpoint!.text);
    await checkResults(s, entries, results);
  }
  assert.deepEqual(storage.violations, []);
  assert.equal(seqs.every((s) => s.fatalError === undefined), true);
  await seqs[0]!.close();
  // A shared writer that leaves does not release the lease the others still hold: a single writer stays locked out.
  await assertRejectsCode(makeSequencer(storage, { owner: 'single' }).start(), 'ERR_LOG_LOCKED');
  for (const s of seqs.slice(1)) await s.close();
});

test('shared mode: a writer with another log key refuses the stored checkpoint (ERR_LOG_STATE_CORRUPT)', async () => {
  const storage = new MemoryStorage();
  const a = makeShared(storage, fakeSigner(), 'a');
  await a.start();
  await a.add(enc('one'));
  const b = makeShared(storage, fakeSigner('other.test/log'), 'b');
  await assertRejectsCode(b.start(), 'ERR_LOG_STATE_CORRUPT');
  await a.close();
});
