/**
 * The fuzz smoke run of `npm test` (issue 16): every target of fuzz/registry.ts gets a short campaign in process
 * (the same loop and oracle as `npm run fuzz`, without the worker's watchdog: a hang would stall this test instead),
 * and none may produce a finding. The long campaigns run from `npm run fuzz` (docs/fuzzing.md).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { FUZZ_TMP, MAX_INPUT_BYTES, REPO_ROOT } from '../../fuzz/engine.ts';
import { campaignLoop, runOnce } from '../../fuzz/loop.ts';
import { TARGETS } from '../../fuzz/registry.ts';

// Per target: at most this many inputs, and at most this long (a cap, not an assertion): fast targets run them all,
// the slow ones (a package written per input, a daemon round trip) stop early.
const RUNS = 200;
const SECONDS = 0.3;

test('every fuzz target survives a short campaign with no finding', async (t) => {
  let total = 0;
  const problems: string[] = [];
  for (const target of TARGETS) {
    const tmpDir = mkdtempSync(join(FUZZ_TMP, `custody-fuzz-smoke-${target.name}-`));
    try {
      const inst = await target.make({ tmpDir, repoRoot: REPO_ROOT });
      assert.ok(inst.seeds.length > 0, `${target.name} has seeds`);
      for (const s of inst.seeds) {
        const o = await runOnce(inst, s);
        if (!o.ok) problems.push(`${target.name}: a seed gives ${o.kind} ${o.name}: ${o.message}`);
      }
      const stats = await campaignLoop(inst, { runs: RUNS, seconds: SECONDS, seed: 20261201, maxInputBytes: MAX_INPUT_BYTES }, (i) => runOnce(inst, i), (o) => {
        problems.push(`${target.name}: ${o.kind} ${o.name} at ${o.frame}: ${o.message}`);
      });
      assert.ok(stats.runs > 0, `${target.name} ran`);
      total += stats.runs;
      await inst.close?.();
    } finally {
      rmSync(tmpDir, { recursive: true, force: true });
    }
  }
  t.diagnostic(`${total} inputs over ${TARGETS.length} targets`);
  assert.deepEqual(problems, []);
  assert.ok(total >= TARGETS.length, `ran ${total} inputs`);
});
