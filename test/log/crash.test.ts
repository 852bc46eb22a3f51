/**
 * Crash safety: kill -9 the real log process at ≥ 20 random points during concurrent appends. After every restart
 * every acknowledged entry is present at its index with a valid inclusion proof, and every checkpoint ever returned
 * is consistent with the current tree (checked independently of Custody's code). The seed is printed on failure;
 * bench/tlog-soak.ts runs the same schedule with hundreds of kills.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { tmpDir } from '../support/tmp.ts';
import { crashRun, writeTokenFile } from './harness.ts';

// A hung child must fail the test, not the CI run: bound it well above its usual ~35 s.
test('kill -9 at 20 random points: no acknowledged entry lost, no inconsistent checkpoint', { timeout: 240_000 }, async (t) => {
  const dir = tmpDir(t);
  const seed = Number(process.env.TLOG_CRASH_SEED ?? Date.now() % 1_000_000);
  const r = await crashRun({
    dataDir: join(dir, 'data'),
    tokenFile: writeTokenFile(dir),
    kills: 20,
    writers: 8,
    seed,
    maxAcksPerRound: 120,
  });
  assert.equal(r.kills, 20);
  assert.ok(r.size >= r.acks, `tree ${r.size} holds all ${r.acks} acknowledged entries`);
  t.diagnostic(`seed ${seed}: ${r.acks} acknowledged entries, tree size ${r.size}, ${r.killedWithInFlight} kills cut requests off`);
});
