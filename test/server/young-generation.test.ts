/**
 * server/young-generation — while held, a real process's new space stays at its initial size however much it
 * allocates; released, it grows again under the same load; an operator's own young-generation flag is left alone.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { NOTHING_HELD, holdYoungGeneration } from '../../src/server/young-generation.ts';
import { TSX_LOADER } from '../support/cli.ts';

const MODULE = fileURLToPath(new URL('../../src/server/young-generation.ts', import.meta.url));

/** CHILD allocates short-lived objects with a working set of some MiB, held then released, and prints new-space sizes. */
const CHILD = `
import { getHeapSpaceStatistics } from 'node:v8';
import { holdYoungGeneration } from ${JSON.stringify(MODULE)};
const newSpaceMiB = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size / 2 ** 20;
const churn = () => { let a = []; for (let i = 0; i < 3e6; i++) { a.push({ i, s: 'x' + i }); if (a.length > 20000) a = []; } };
const initial = newSpaceMiB();
const release = holdYoungGeneration([], '');
churn();
const held = newSpaceMiB();
release();
churn();
console.log(JSON.stringify({ initial, held, released: newSpaceMiB() }));
`;

test('a held young generation does not grow; released, it grows again', () => {
  const r = spawnSync(process.execPath, ['--import', TSX_LOADER, '--input-type=module', '-e', CHILD], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const { initial, held, released } = JSON.parse(r.stdout) as { initial: number; held: number; released: number };
  assert.ok(held <= Math.max(initial, 2), `held: new space ${held} MiB (initial ${initial} MiB)`);
  assert.ok(released > held, `released: new space ${released} MiB, held ${held} MiB`);
});

test("the operator's own young-generation flags are left alone: nothing is held", () => {
  const child = CHILD.replace("holdYoungGeneration([], '')", "holdYoungGeneration(['--max-semi-space-size=16'], '')");
  const r = spawnSync(process.execPath, ['--import', TSX_LOADER, '--input-type=module', '-e', child], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const { initial, held } = JSON.parse(r.stdout) as { initial: number; held: number };
  assert.ok(held > Math.max(initial, 2), `not held: new space ${held} MiB (initial ${initial} MiB)`);
  for (const [argv, env] of [[[], '--semi-space-growth-factor=3'], [['--min_semi_space_size=1'], '']] as const) {
    assert.equal(holdYoungGeneration(argv, env), NOTHING_HELD, `${argv.join(' ')} ${env}: a no-op`);
  }
});
