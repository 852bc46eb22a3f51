/**
 * The fuzz harness itself (fuzz/engine.ts, issue 16): it must catch a planted bug through the real engine (worker
 * thread, watchdog, confirmation, delta-debugging minimization) and write the minimized input as a regression file.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ddmin, recheckFinding, regressionName, runCampaign } from '../../fuzz/engine.ts';
import { mutate, Rng } from '../../fuzz/mutate.ts';

const REGISTRY = new URL('./planted-registry.ts', import.meta.url).href;

test('a planted TypeError is found, minimized to the two bytes that trigger it and written as a regression', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'custody-fuzz-planted-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const [r] = await runCampaign({ targets: ['planted-typeerror'], runs: 3000, seed: 7, registry: REGISTRY, regressionsDir: dir, log: () => undefined });
  assert.ok(r);
  assert.equal(r.findings.length, 1, 'one distinct finding');
  const f = r.findings[0]!;
  assert.equal(f.kind, 'crash');
  assert.equal(f.name, 'TypeError');
  assert.match(f.frame, /test\/fuzz\/planted-registry\.ts:\d+/);
  assert.equal(Buffer.from(f.input).toString(), '!!', 'minimized to the trigger');
  assert.ok(f.originalBytes > 2);
  const file = join(dir, 'planted-typeerror', regressionName(f.input));
  assert.equal(f.file, file);
  assert.equal(readFileSync(file).toString(), '!!');
});

test('a planted infinite loop is caught by the watchdog and reported as a hang', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'custody-fuzz-hang-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const [r] = await runCampaign({ targets: ['planted-hang'], runs: 50, seed: 3, registry: REGISTRY, regressionsDir: dir, hangMs: 300, minimizeHangTries: 3, maxRestarts: 1, log: () => undefined });
  assert.ok(r);
  assert.equal(r.findings.length, 1);
  const f = r.findings[0]!;
  assert.equal(f.kind, 'hang');
  assert.equal(f.input[0], 0x3f, 'the hanging input starts with "?"');
  assert.ok(f.file !== undefined && existsSync(f.file));
  assert.ok(r.restarts >= 1, 'the worker was restarted after the hang');
  // The hang was replayed once to confirm it, and that replay counts: minimizing runs at most minimizeHangTries
  // more, and one last replay of the minimized input.
  // (A stall of the loaded machine before it adds its own replay, counted as unconfirmed.)
  assert.ok(r.replays >= 2 && r.replays <= 1 + 3 + 1 + r.unconfirmed, `replays: ${r.replays}, unconfirmed ${r.unconfirmed}`);
  // maxRestarts 1: the confirmed hang ended the run before its 50 inputs, and the report says so.
  assert.equal(r.stopped, true);
  assert.equal(r.stopReason, 'restarts');
});

test('a planted leak (96 MiB kept per input) is caught by the memory bound and reported as a memory finding', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'custody-fuzz-leak-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const [r] = await runCampaign({ targets: ['planted-leak'], runs: 400, seed: 5, registry: REGISTRY, regressionsDir: dir, memoryBoundBytes: 64 * 2 ** 20, minimizeHangTries: 3, maxRestarts: 1, log: () => undefined });
  assert.ok(r);
  assert.ok(r.findings.length >= 1, 'the leak is reported');
  const f = r.findings[0]!;
  assert.equal(f.kind, 'memory');
  assert.equal(f.input[0], 0x4d, 'the leaking input starts with "M"');
});

test('a stall that does not reproduce in a fresh worker is counted as unconfirmed and the campaign goes on', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'custody-fuzz-stall-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // maxRestarts 1: a stall that used up the restarts would stop the target after it, with its runs unfinished.
  const [r] = await runCampaign({ targets: ['planted-stall'], runs: 200, seed: 11, registry: REGISTRY, regressionsDir: dir, hangMs: 300, maxRestarts: 1, log: () => undefined });
  assert.ok(r);
  assert.deepEqual(r.findings, []);
  assert.equal(r.unconfirmed, 1);
  assert.equal(r.restarts, 1);
  assert.ok(r.runs >= 200, `the campaign ran all its inputs (${r.runs})`);
  assert.equal(r.stopped, false);
});

test('a stall after a confirmed hang of the same kind is replayed too: counted as unconfirmed, not as a restart', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'custody-fuzz-hang-stall-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // maxRestarts 2: the real hang uses one; were the stall counted as a second, the target would stop unfinished.
  const [r] = await runCampaign({ targets: ['planted-hang-then-stall'], runs: 200, seed: 13, registry: REGISTRY, regressionsDir: dir, hangMs: 300, minimizeHangTries: 3, maxRestarts: 2, log: () => undefined });
  assert.ok(r);
  assert.equal(r.findings.length, 1, 'the real hang');
  assert.equal(r.findings[0]!.kind, 'hang');
  assert.equal(Buffer.from(r.findings[0]!.input).toString(), '?ab');
  assert.ok(r.unconfirmed >= 1, `the stall did not reproduce (unconfirmed ${r.unconfirmed})`);
  assert.equal(r.stopped, false, `the target ran all its inputs (${r.runs}, stopReason ${String(r.stopReason)})`);
  assert.ok(r.runs >= 200);
});

test('a recheck replays a recorded hang alone: a real one gives again every time, a stall of a busy worker never', async () => {
  const hang = { kind: 'hang' as const, name: 'Hang', frame: '' };
  const real = await recheckFinding({ registry: REGISTRY, hangMs: 300 }, 'planted-hang', new TextEncoder().encode('?ab'), hang, 2);
  assert.deepEqual({ replays: real.replays, reproduced: real.reproduced }, { replays: 2, reproduced: 3 }, 'the warm-up and both timed replays hung');
  // planted-stall stalls only in a campaign worker: replayed, its recorded input is quick.
  const noise = await recheckFinding({ registry: REGISTRY, hangMs: 300 }, 'planted-stall', new TextEncoder().encode('abc'), hang, 3);
  assert.equal(noise.replays, 3);
  assert.equal(noise.reproduced, 0);
  assert.ok(noise.worstMs > 0 && noise.worstMs < 300, `timed (${noise.worstMs} ms)`);
});

test('every replay worker gets a temp dir of its own: a target keeping state there is replayed twice without failing', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'custody-fuzz-stateful-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // Two stalls (one in each of the first two campaign workers), each replayed in a fresh worker whose make() must
  // find an empty temp dir.
  const [r] = await runCampaign({ targets: ['planted-stateful-stall'], runs: 200, seed: 17, registry: REGISTRY, regressionsDir: dir, hangMs: 300, maxRestarts: 1, log: () => undefined });
  assert.ok(r);
  assert.deepEqual(r.findings, []);
  assert.equal(r.unconfirmed, 2);
  assert.equal(r.stopped, false, `ran all its inputs (${r.runs}, stopReason ${String(r.stopReason)})`);
});

test('a target whose worker cannot start is stopped with stopReason error; the campaign goes on to the next target', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'custody-fuzz-broken-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const lines: string[] = [];
  const reports = await runCampaign({ targets: ['planted-broken-make', 'planted-typeerror'], runs: 50, seed: 19, registry: REGISTRY, regressionsDir: dir, log: (l) => lines.push(l) });
  assert.deepEqual(reports.map((r) => r.target), ['planted-broken-make', 'planted-typeerror']);
  assert.equal(reports[0]!.stopped, true);
  assert.equal(reports[0]!.stopReason, 'error');
  assert.ok(lines.some((l) => /planted-broken-make: worker failed: .*cannot make the target/.test(l)), lines.join('\n'));
  assert.ok(reports[1]!.runs >= 50, 'the next target ran');
});

test('ddmin reaches a 1-minimal input', async () => {
  const input = new TextEncoder().encode('xxxxAxxxxxxxxBxxxxxxxCxxxx');
  const has = (b: Uint8Array): boolean => ['A', 'B', 'C'].every((c) => b.includes(c.charCodeAt(0)));
  const min = await ddmin(input, (b) => Promise.resolve(has(b)), 10_000);
  assert.equal(Buffer.from(min).toString(), 'ABC');
});

test('mutations are deterministic for a seed and stay within the size cap', () => {
  const seed = new TextEncoder().encode('{"a":[1,2,3],"b":"text"}');
  const run = (s: number): string[] => {
    const rng = new Rng(s);
    return Array.from({ length: 200 }, () => Buffer.from(mutate(seed, rng, [seed], 64)).toString('hex'));
  };
  assert.deepEqual(run(5), run(5));
  assert.notDeepEqual(run(5), run(6));
  for (const h of run(9)) assert.ok(h.length / 2 <= 64);
});
