/**
 * Every minimized fuzz finding in test/fuzz-regressions/<target>/*.bin is replayed forever after (issue 16), through
 * the harness's replayer (a worker with the 1 s watchdog), and must now give a valid result or a coded error.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { DEFAULT_REGRESSIONS_DIR, FUZZ_TMP, Replayer } from '../../fuzz/engine.ts';
import { TARGETS } from '../../fuzz/registry.ts';

const dirs = existsSync(DEFAULT_REGRESSIONS_DIR) ? readdirSync(DEFAULT_REGRESSIONS_DIR).sort() : [];

test('regression folders are named after fuzz targets', () => {
  for (const d of dirs) assert.ok(TARGETS.some((t) => t.name === d), `test/fuzz-regressions/${d} is no target of fuzz/registry.ts`);
});

for (const name of dirs) {
  test(`fuzz regressions of ${name} replay without a finding`, async (t) => {
    const files = readdirSync(join(DEFAULT_REGRESSIONS_DIR, name)).filter((f) => f.endsWith('.bin')).sort();
    assert.ok(files.length > 0);
    const tmp = mkdtempSync(join(FUZZ_TMP, `custody-fuzz-replay-${name}-`));
    const r = new Replayer({ targets: [name], runs: 0 }, name, tmp);
    t.after(async () => {
      await r.close();
      rmSync(tmp, { recursive: true, force: true });
    });
    for (const f of files) {
      const o = await r.replay(readFileSync(join(DEFAULT_REGRESSIONS_DIR, name, f)));
      assert.ok(o.ok, `${name}/${f}: ${o.ok ? '' : `${o.kind} ${o.name}: ${o.message}`}`);
    }
  });
}
