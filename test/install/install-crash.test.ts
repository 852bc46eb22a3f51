/**
 * kill -9 at every step of `custody install` and `custody rollback`, each followed by a run that ends consistent.
 *
 * The test-only hook CUSTODY_TEST_CRASH_AT=<step> (src/client/install.ts, INSTALL_CRASH_POINTS and
 * ROLLBACK_CRASH_POINTS) makes the real CLI child SIGKILL itself when it reaches that step; unset, it does nothing.
 * After each crash: DIR/current names the old or the new release and that release verifies on disk (manifest bytes
 * and every artifact's SHA-256); `custody status` settles the half-done step (finished or undone, as the journal
 * says) and a further install ends with the new release active — without downloading it again when it was already
 * staged.
 */
import assert from 'node:assert/strict';
import { cpSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { INSTALL_CRASH_POINTS, ROLLBACK_CRASH_POINTS } from '../../src/client/install.ts';
import { cli, spawnCli } from '../support/cli.ts';
import { assertConsistent, journal, provider } from './helpers.ts';

type Row = { at: string; check: 'true' | 'false' | null; afterCrash: 'old' | 'new'; settled: 'old' | 'new' };

/** INSTALL_ROWS: an upgrade from release A (active) to B, killed at `at`. */
const INSTALL_ROWS: Row[] = [
  { at: 'fetched', check: 'true', afterCrash: 'old', settled: 'old' },
  { at: 'staged', check: 'true', afterCrash: 'old', settled: 'old' },
  { at: 'journaled', check: 'true', afterCrash: 'old', settled: 'old' },
  { at: 'symlinked', check: 'true', afterCrash: 'old', settled: 'old' },
  { at: 'switched', check: 'true', afterCrash: 'new', settled: 'old' },
  { at: 'checking', check: 'true', afterCrash: 'new', settled: 'old' },
  { at: 'checked', check: 'false', afterCrash: 'new', settled: 'old' },
  { at: 'undoing', check: 'false', afterCrash: 'new', settled: 'old' },
  { at: 'undo-symlinked', check: 'false', afterCrash: 'new', settled: 'old' },
  { at: 'undo-switched', check: 'false', afterCrash: 'old', settled: 'old' },
  { at: 'committed', check: 'true', afterCrash: 'new', settled: 'new' },
  // Without a health check, a journaled switch is finished rather than undone: B was verified before it was journaled.
  { at: 'journaled', check: null, afterCrash: 'old', settled: 'new' },
  { at: 'symlinked', check: null, afterCrash: 'old', settled: 'new' },
  { at: 'switched', check: null, afterCrash: 'new', settled: 'new' },
];

/** ROLLBACK_ROWS: a rollback from B (active, 'old') to A ('new'), killed at `at`; a rollback is always finished. */
const ROLLBACK_ROWS: Row[] = ROLLBACK_CRASH_POINTS.map((at) => ({
  at,
  check: null,
  afterCrash: at === 'rollback-journaled' || at === 'rollback-symlinked' ? 'old' : 'new',
  settled: 'new',
}));

test('the crash-point tables name every step the code can stop at', () => {
  assert.deepEqual(new Set(INSTALL_ROWS.map((r) => r.at)), new Set(INSTALL_CRASH_POINTS));
  assert.deepEqual(ROLLBACK_ROWS.map((r) => r.at), [...ROLLBACK_CRASH_POINTS]);
});

test('kill -9 at each step of install and rollback, then a run that ends consistent', { timeout: 900_000 }, async (t) => {
  const { dir, publish, target, args } = await provider(t);
  const env = { PATH: process.env.PATH };
  const a = await publish(1);
  assert.equal((await cli(args(), { cwd: dir, env })).code, 0);
  const withA = join(dir, 'template-a');
  cpSync(target, withA, { recursive: true, verbatimSymlinks: true });
  const b = await publish(2);
  assert.equal((await cli(args(), { cwd: dir, env })).code, 0);
  const withB = join(dir, 'template-ab');
  cpSync(target, withB, { recursive: true, verbatimSymlinks: true });
  const seqOf = (w: 'old' | 'new', rollback: boolean): number => ((w === 'new') !== rollback ? b.sequence : a.sequence);

  const rows = [...INSTALL_ROWS.map((r) => ({ ...r, rollback: false })), ...ROLLBACK_ROWS.map((r) => ({ ...r, rollback: true }))];
  for (const [i, row] of rows.entries()) {
    const what = `${row.rollback ? 'rollback' : 'install'} killed at ${row.at}${row.check === null ? '' : ` (check ${row.check})`}`;
    const tgt = join(dir, `t${i}`);
    cpSync(row.rollback ? withB : withA, tgt, { recursive: true, verbatimSymlinks: true });
    const argsFor = (extra: string[]): string[] => {
      const x = args(extra);
      x[x.indexOf(target)] = tgt;
      return x;
    };
    const crash = await spawnCli(row.rollback ? ['rollback', '--target', tgt] : argsFor(row.check === null ? [] : ['--check', row.check]), {
      cwd: dir,
      env: { ...env, CUSTODY_TEST_CRASH_AT: row.at },
    });
    assert.equal(crash.code, -1, `${what}: expected the child to die by SIGKILL, got exit ${crash.code}\n${crash.stderr}`);
    // Right after the crash: the old or the new release, whole and verified.
    assert.equal(await assertConsistent(tgt), seqOf(row.afterCrash, row.rollback), `${what}: current after the crash`);

    // The next run settles it.
    const s = await cli(['status', '--target', tgt, '--json'], { cwd: dir, env });
    assert.equal(s.code, 0, `${what}: ${s.stderr}`);
    assert.equal(await assertConsistent(tgt), seqOf(row.settled, row.rollback), `${what}: current after status`);
    assert.equal(journal(tgt).pending, null, what);
    assert.ok(!readdirSync(join(tgt, 'releases')).some((n) => n.startsWith('.')), `${what}: staging left over`);
    assert.ok(!readdirSync(tgt).some((n) => n.endsWith('.tmp')), `${what}: temporary symlink left over`);
    assert.ok(!existsSync(join(tgt, 'install.lock')), `${what}: lock left over`);

    if (!row.rollback) {
      // And an install ends on B; a B already staged is not downloaded again.
      const staged = existsSync(join(tgt, 'releases', String(b.sequence)));
      const r = await cli([...argsFor(['--retry', '--check', 'true']), '--json'], { cwd: dir, env });
      assert.equal(r.code, 0, `${what}: ${r.stderr}`);
      const out = JSON.parse(r.stdout) as { files: unknown[] };
      assert.equal(out.files.length, staged ? 0 : 1, `${what}: downloaded again?`);
      assert.equal(await assertConsistent(tgt), b.sequence, `${what}: final install`);
    } else {
      assert.ok(journal(tgt).rejected.some((x) => x.sequence === b.sequence && x.reason === 'rollback'), `${what}: B marked rolled back`);
    }
  }
});
